using System.Diagnostics;
using System.Globalization;

namespace Spectrum.Broker.Tests;

/// <summary>
/// File descriptors (issue 14, item 2) on the real daemon: its RLIMIT_NOFILE, the per-uid cap on
/// control-socket connections, and a real EMFILE during a grant's resolution.
/// </summary>
public sealed class FdLimitTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const int PerUidCap = 64;
    private readonly TestDirs _dirs = new();

    public void Dispose() => _dirs.Dispose();

    [Fact]
    public async Task Start_RaisesTheSoftOpenFileLimitToTheHardLimit()
    {
        // Started with soft 1024 under a hard 8192, as a shell's defaults often are.
        var info = BrokerProcess.StartInfo(_dirs);
        var broker = info.FileName;
        var args = info.ArgumentList.ToList();
        info.FileName = "prlimit";
        info.ArgumentList.Clear();
        foreach (var a in (string[])["--nofile=1024:8192", "--", broker, .. args])
        {
            info.ArgumentList.Add(a);
        }

        await using var process = await BrokerProcess.StartAsync(_dirs, info);

        Assert.Equal((8192UL, 8192UL), OpenFileLimit(process.Pid));
        Assert.Contains("File descriptor limit 8192 (hard 8192)", process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionsOfOneUid_BeyondTheCap_AreClosed_WhileRootIsServed_AndTheBrokersFdsStayBounded()
    {
        await using var broker = await BrokerProcess.StartAsync(_dirs);
        await broker.Client.GrantAsync("editor", "Documents");
        var fdsBefore = FdCount(broker.Pid);
        const int Held = 300;

        // One process as uid 65531 opens 300 connections and holds them until told to look.
        var holder = Process.Start(new ProcessStartInfo("setpriv")
        {
            ArgumentList = { "--reuid=65531", "--regid=65531", "--clear-groups", "/usr/bin/python3", "-c", HolderScript, _dirs.Socket, Held.ToString(CultureInfo.InvariantCulture) },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var connected = await holder.StandardOutput.ReadLineAsync();
            Assert.True(connected == $"connected {Held}", $"the holder said '{connected}': {(connected is null ? await holder.StandardError.ReadToEndAsync() : "")}");

            // Meanwhile root is served, and the broker holds about the capped number of connections, not 300.
            var (status, body) = await broker.HttpAsync(HttpMethod.Get, "/v1/grants");
            Assert.Equal(200, status);
            Assert.Contains("Documents", body, StringComparison.Ordinal);
            var fdsDuring = FdCount(broker.Pid);

            await holder.StandardInput.WriteLineAsync("look");
            await holder.StandardInput.FlushAsync();
            var verdict = await holder.StandardOutput.ReadLineAsync();
            Assert.True(verdict is not null, await holder.StandardError.ReadToEndAsync());
            Assert.Equal($"closed {Held - PerUidCap} open {PerUidCap}", verdict);
            output.WriteLine($"broker fds: {fdsBefore} before, {fdsDuring} while uid 65531 held {Held} connections; {verdict}");
            Assert.InRange(fdsDuring, 1, fdsBefore + PerUidCap + 16);
        }
        finally
        {
            if (!holder.HasExited)
            {
                holder.Kill();
            }

            await holder.WaitForExitAsync();
            holder.Dispose();
        }
    }

    [Fact]
    public async Task Grant_WhenTheBrokerIsOutOfFileDescriptors_Answers503_AndChangesNothing()
    {
        await using var broker = await BrokerProcess.StartAsync(_dirs);
        await broker.Client.GrantAsync("editor", "Documents");
        var auditBefore = (await broker.Client.AuditAsync()).Count;

        // One kept-alive connection, so that the next call needs no new fd to arrive; then the
        // broker's soft limit goes down to 3: every new fd (the openat2 of the grant root) is EMFILE.
        using var client = new BrokerClient(_dirs.Socket);
        Assert.Single(await client.ListAsync());
        var hard = OpenFileLimit(broker.Pid).Hard;
        await SetOpenFileLimitAsync(broker.Pid, 3, hard);
        BrokerClientException refusal;
        try
        {
            refusal = await Assert.ThrowsAsync<BrokerClientException>(() => client.GrantAsync("editor", "Pictures"));
        }
        finally
        {
            await SetOpenFileLimitAsync(broker.Pid, hard, hard);
        }

        Assert.Equal("unavailable", refusal.Code);
        Assert.Contains("short of file descriptors", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("try again", refusal.Message, StringComparison.Ordinal);
        var grants = await broker.Client.ListAsync(all: true);
        Assert.Equal(["Documents"], grants.Select(g => g.Path));
        Assert.All(grants, g => Assert.Equal("active", g.State));
        Assert.Equal(auditBefore, (await broker.Client.AuditAsync()).Count);
        Assert.DoesNotContain("Unexpected failure", broker.Output, StringComparison.Ordinal);
        Assert.Equal("Pictures", (await broker.Client.GrantAsync("editor", "Pictures")).Grant.Path);
    }

    private const string HolderScript = """
        import select, socket, sys
        path, n = sys.argv[1], int(sys.argv[2])
        socks = []
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            socks.append(s)
        print(f"connected {n}", flush=True)
        sys.stdin.readline()
        # A closed connection reads as end of file at once; an open one stays silent (no request sent).
        closed = set()
        while True:
            ready, _, _ = select.select([s for s in socks if s not in closed], [], [], 3)
            if not ready:
                break
            for s in ready:
                if s.recv(1) == b"":
                    closed.add(s)
        print(f"closed {len(closed)} open {n - len(closed)}", flush=True)
        """;

    private static int FdCount(int pid) => Directory.GetFiles($"/proc/{pid}/fd").Length;

    private static (ulong Soft, ulong Hard) OpenFileLimit(int pid)
    {
        var line = File.ReadAllLines($"/proc/{pid}/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (ulong.Parse(parts[0], CultureInfo.InvariantCulture), ulong.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    private static async Task SetOpenFileLimitAsync(int pid, ulong soft, ulong hard)
    {
        var (exit, _, stderr) = await Tools.RunAsync("prlimit", "--pid", pid.ToString(CultureInfo.InvariantCulture), $"--nofile={soft}:{hard}");
        Assert.True(exit == 0, stderr);
    }
}
