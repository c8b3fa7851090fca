using System.Diagnostics;
using System.Globalization;
using Spectrum.Broker.Grants;

namespace Spectrum.Bench;

/// <summary>
/// Revocation latency (BENCHMARKS.md, "The control path"): from the call that commits a revoke
/// until the VM's view refuses the path, on a real mount, with an open handle and a warm kernel
/// cache (the file was just read, so without invalidation the kernel would answer from cache).
/// Reference in the same run: the cost of the revoke call alone (commit + audit), so the ratio
/// shows what making it effective in the view adds. Run: <c>Spectrum.Bench revocation [ROUNDS]</c>.
/// </summary>
internal static class RevocationLatency
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50;
        await using var broker = new BenchBroker("spectrum-revoke-bench-");
        Directory.CreateDirectory(Path.Combine(broker.Tree, "Documents"));
        await File.WriteAllTextAsync(Path.Combine(broker.Tree, "Documents", "report.odt"), "report");
        await broker.StartAsync();
        var services = broker.Services;
        var file = Path.Combine(broker.View("editor"), "Documents", "report.odt");
        var commit = new List<double>();
        var effective = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            var grant = await services.Grants.GrantAsync("uid:0", new GrantSpec { Vm = "editor", Path = "Documents/report.odt", Rights = "ro" });
            var deadline = Stopwatch.StartNew();
            while (!File.Exists(file) && deadline.ElapsedMilliseconds < 5000)
            {
                await Task.Delay(1);
            }

            using var open = File.OpenRead(file);
            _ = await File.ReadAllTextAsync(file);
            var watch = Stopwatch.StartNew();
            await services.Grants.RevokeAsync("uid:0", grant.Id);
            commit.Add(watch.Elapsed.TotalMilliseconds);
            while (File.Exists(file))
            {
                if (watch.ElapsedMilliseconds > 5000)
                {
                    throw new InvalidOperationException("the view still shows a revoked file after 5 s");
                }
            }

            effective.Add(watch.Elapsed.TotalMilliseconds);
            var handleFails = false;
            try
            {
                open.Position = 0;
                _ = open.ReadByte();
            }
            catch (IOException)
            {
                handleFails = true;
            }

            if (!handleFails)
            {
                throw new InvalidOperationException("an open handle still read after the revoke");
            }
        }

        commit.Sort();
        effective.Sort();
        var c = commit[commit.Count / 2];
        var e = effective[effective.Count / 2];
        Console.WriteLine($"Revocation latency, {rounds} rounds (median, ms; p90 in brackets)");
        Console.WriteLine("| measure | median ms | p90 ms | ratio to commit |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| revoke call returns (commit + audit) | {0:F2} | {1:F2} | 1.00x |", c, commit[(int)(commit.Count * 0.9)]));
        Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "| view refuses the path (stat ENOENT) | {0:F2} | {1:F2} | {2:F2}x |", e, effective[(int)(effective.Count * 0.9)], e / c));
        Console.WriteLine("target: the view refuses within 10 ms of the commit; open handles failed their next read in every round");
        return 0;
    }
}
