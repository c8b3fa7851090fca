using System.Diagnostics;
using System.Text;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>
/// SECURITY-TESTS.md G on the real daemon and the real channel sockets: malformed JSON, oversized
/// lines, deep nesting, unknown methods, floods and slow writers each get a JSON-RPC error or a
/// closed channel, cost bounded memory and time, and leave another VM's channel untouched.
/// </summary>
[Collection(Vms.GuestCollection.Name)]
public sealed class PortalChannelInputTests(GuestImage guest) : IAsyncLifetime
{
    private PortalRig rig = null!;

    public async Task InitializeAsync() => rig = await PortalRig.StartAsync(guest, ["editor", "viewer"]);

    public async Task DisposeAsync() => await rig.DisposeAsync();

    [QemuFact]
    public async Task MalformedLines_EachGetTheirJsonRpcError_AndTheChannelGoesOn()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        var cases = new (string Line, int Code)[]
        {
            ("{not json", -32700),
            ("[1,2,3]", -32600),
            ("""{"jsonrpc":"1.0","id":1,"method":"OpenFile","params":{}}""", -32600),
            ("""{"jsonrpc":"2.0","id":2,"method":"rm -rf /","params":{}}""", -32601),
            ("""{"jsonrpc":"2.0","id":3,"method":"OpenFile","params":{"multiple":"yes"}}""", -32602),
            ("""{"jsonrpc":"2.0","id":4,"method":"OpenFile","params":{"host_path":"/etc/shadow"}}""", -32602),
            ("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"OpenFile\",\"params\":{\"title\":" + new string('[', 10_000) + new string(']', 10_000) + "}}", -32700),
        };
        foreach (var (line, _) in cases)
        {
            await guestEnd.SendLineAsync(line);
        }

        var codes = new List<int>();
        foreach (var _ in cases)
        {
            var reply = await guestEnd.ReadAsync();
            codes.Add(reply.GetProperty("error").GetProperty("code").GetInt32());
            Assert.False(string.IsNullOrWhiteSpace(reply.GetProperty("error").GetProperty("message").GetString()));
        }

        Assert.Equal(cases.Select(c => c.Code), codes);
        await guestEnd.SendLineAsync("""{"jsonrpc":"2.0","id":9,"method":"Close","params":{"id":12345}}""");
        Assert.Equal(-32002, (await guestEnd.ReplyToAsync(9)).GetProperty("error").GetProperty("code").GetInt32());
        Assert.Empty(await rig.Client.ListAsync(all: true));
        Assert.False(File.Exists(rig.DialogLog), "no dialog may be shown for a bad request");
    }

    [QemuFact]
    public async Task AnOversizedLine_IsAnsweredOnce_WithoutBeingBuffered_AndTheNextLineIsServed()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        var rssBefore = BrokerRssKb();

        // 8 MiB without a newline, in chunks, then a newline and a good request.
        var chunk = Encoding.ASCII.GetBytes(new string('x', 1 << 20));
        for (var i = 0; i < 8; i++)
        {
            await guestEnd.SendRawAsync(chunk);
        }

        await guestEnd.SendRawAsync("\n"u8.ToArray());
        await guestEnd.SendLineAsync("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":1}}""");
        var tooLong = await guestEnd.ReadAsync();
        var next = await guestEnd.ReadAsync();

        Assert.Equal(-32600, tooLong.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("longer than", tooLong.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, next.GetProperty("id").GetInt32());
        Assert.True(BrokerRssKb() - rssBefore < 6 * 1024, $"the broker grew by {BrokerRssKb() - rssBefore} kB reading an 8 MiB line");
    }

    [QemuFact]
    public async Task AFlood_IsRateLimited_AndPendingDialogsAreCapped_WhileAnotherVmIsServedAtOnce()
    {
        using var editor = await rig.ConnectAsync("editor");
        using var viewer = await rig.ConnectAsync("viewer");

        // Five dialogs at once: the fifth is refused.
        for (var id = 1; id <= 5; id++)
        {
            await editor.RequestAsync(id, "OpenFile");
        }

        var refused = await editor.ReplyToAsync(5);
        Assert.Equal(-32000, refused.GetProperty("error").GetProperty("code").GetInt32());

        // Then a flood of requests: past the burst they are rate limited.
        var flood = new StringBuilder();
        for (var id = 100; id < 160; id++)
        {
            flood.Append("{\"jsonrpc\":\"2.0\",\"id\":").Append(id).Append(""","method":"Close","params":{"id":99999}}""").Append('\n');
        }

        await editor.SendRawAsync(Encoding.UTF8.GetBytes(flood.ToString()));
        var codes = new List<int>();
        for (var i = 0; i < 60; i++)
        {
            codes.Add((await editor.ReadAsync()).GetProperty("error").GetProperty("code").GetInt32());
        }

        // Meanwhile the viewer asks and is answered without waiting for the editor.
        var watch = Stopwatch.StartNew();
        await viewer.RequestAsync(1, "OpenFile");
        await WaitForDialogOfAsync("viewer");
        rig.Answer("viewer", 0, rig.TreePath("Documents/notes.txt"));
        var viewerReply = await viewer.ReplyToAsync(1);

        Assert.Contains(-32001, codes);
        Assert.Contains(-32002, codes);
        Assert.Equal(0, viewerReply.GetProperty("result").GetProperty("response").GetInt32());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"the viewer waited {watch.Elapsed} behind the editor's flood");
        Assert.Equal(4, File.ReadAllLines(rig.DialogLog).Count(l => l.StartsWith("editor|", StringComparison.Ordinal)));
    }

    [QemuFact]
    public async Task ASlowWriter_IsClosedAfterTheLineTimeout_AndOnlyItsOwnConnection()
    {
        using var slow = await rig.ConnectAsync("editor");
        using var other = await rig.ConnectAsync("editor");
        await slow.SendRawAsync("{\"jsonrpc\":\"2.0\",\"id\":1,"u8.ToArray());
        var watch = Stopwatch.StartNew();

        await other.SendLineAsync("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":1}}""");
        Assert.Equal(-32002, (await other.ReplyToAsync(2)).GetProperty("error").GetProperty("code").GetInt32());
        Assert.Null(await slow.ReadLineAsync(TimeSpan.FromSeconds(30)));

        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(9), $"closed after {watch.Elapsed}, before the 10 s line timeout");
        Assert.Contains("a line was not finished within 10 s", rig.Broker.Output, StringComparison.Ordinal);
        await other.SendLineAsync("""{"jsonrpc":"2.0","id":3,"method":"Close","params":{"id":1}}""");
        Assert.Equal(3, (await other.ReplyToAsync(3)).GetProperty("id").GetInt32());
    }

    private async Task WaitForDialogOfAsync(string vm)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!(File.Exists(rig.DialogLog) && File.ReadAllLines(rig.DialogLog).Any(l => l.StartsWith(vm + "|", StringComparison.Ordinal))))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no dialog for {vm}");
            await Task.Delay(20);
        }
    }

    private long BrokerRssKb() =>
        long.Parse(File.ReadAllLines($"/proc/{rig.Broker.Pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}
