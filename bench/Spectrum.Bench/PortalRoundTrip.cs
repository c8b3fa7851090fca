using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Spectrum.Broker.Portal;
using Spectrum.Broker.Portal.Channel;
using Spectrum.Broker.Portal.Dialog;
using Spectrum.Tests.Shared;

namespace Spectrum.Bench;

/// <summary>
/// The broker's own share of a portal round trip, the human excluded: channel request → dialog
/// call issued, and dialog answer → grant committed and in the view → reply written, measured
/// inside the broker on the real channel socket with the real xdg-desktop-portal-gtk on a private
/// desktop (xdotool picks the file); against a bare D-Bus round trip to the same backend
/// (Peer.Ping) in the same run. Prints medians and the ratios.
/// </summary>
internal static class PortalRoundTrip
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10;
        if (PortalDesktop.Missing is { } missing)
        {
            Console.Error.WriteLine($"portal: {missing}");
            return 2;
        }

        await using var desktop = await PortalDesktop.StartAsync();
        await using var broker = new BenchBroker("spectrum-bench-portal-");
        for (var i = 0; i < rounds; i++)
        {
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(broker.Tree, "Documents")).FullName, $"f{i}.txt"), "x");
        }

        File.WriteAllText(Path.Combine(broker.Policies, "broker.toml"), $"[portal]\nbus = \"{desktop.BusAddress}\"\n");
        broker.Policy("bench", "[portal]\nallow = [\"**\"]\nmax_rights = \"ro\"\n");
        await broker.StartAsync();
        var services = broker.Services;
        var timings = new List<FileChooserService.Timings>();
        services.Portal.Observe = t => { lock (timings) { timings.Add(t); } };
        var socketPath = Path.Combine(broker.RuntimeDir, "vm", "bench", "portal.sock_219");
        await services.Portal.AttachAsync("bench", new VsockListenerEndpoint(socketPath));
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        for (var i = 0; !socket.Connected; i++)
        {
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
            }
            catch (SocketException) when (i < 100)
            {
                await Task.Delay(50);
            }
        }

        await using var stream = new NetworkStream(socket);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        for (var i = 0; i < rounds; i++)
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes($"{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"OpenFile\",\"params\":{{}}}}\n"));
            await desktop.WaitForDialogAsync("bench wants to open a file");
            await desktop.PickAsync(Path.Combine(broker.Tree, "Documents", $"f{i}.txt"));
            var reply = await reader.ReadLineAsync();
            if (reply is null || !reply.Contains("\"response\":0", StringComparison.Ordinal))
            {
                Console.Error.WriteLine($"portal: round {i} answered {reply}");
                return 1;
            }
        }

        var dialog = (DbusFileDialog)services.Portal.Chooser.Dialog;
        await dialog.PingAsync();
        var pings = new List<double>();
        for (var i = 0; i < 50; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await dialog.PingAsync();
            pings.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }

        double Us(long from, long to) => (to - from) * 1e6 / Stopwatch.Frequency;
        var before = timings.Select(t => Us(t.Received, t.DialogCalled)).ToList();
        var after = timings.Select(t => Us(t.DialogAnswered, t.Written)).ToList();
        var grant = timings.Select(t => Us(t.DialogAnswered, t.Granted)).ToList();
        var total = timings.Select(t => Us(t.Received, t.DialogCalled) + Us(t.DialogAnswered, t.Written)).ToList();
        var ping = Median(pings);
        Console.WriteLine($"portal round trips: {timings.Count}, bare D-Bus Ping to {dialog.Name}: 50 (medians, µs)");
        Console.WriteLine($"  request → dialog called      {Median(before),9:0}   {Median(before) / ping,6:0.00}× ping");
        Console.WriteLine($"  answer → grant in the view   {Median(grant),9:0}   {Median(grant) / ping,6:0.00}× ping");
        Console.WriteLine($"  answer → reply written       {Median(after),9:0}   {Median(after) / ping,6:0.00}× ping");
        Console.WriteLine($"  broker overhead (both)       {Median(total),9:0}   {Median(total) / ping,6:0.00}× ping");
        Console.WriteLine($"  bare D-Bus Ping              {ping,9:0}   1.00×");
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];
    }
}
