using System.Globalization;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Spectrum.Bench;

// One entry point for every benchmark class in this assembly: pick with --filter, e.g.
//   dotnet run -c Release --project bench/Spectrum.Bench -- --filter '*TokenBenchmarks*' --job short
// Figures are ratios measured side by side in one run (BENCHMARKS.md): absolute times on these
// shared machines drift by up to 2x.
// typeof(Program) would be ambiguous: the referenced broker executable has a Program too.
if (args.Length > 0 && args[0] == "revocation")
{
    return await RevocationLatency.RunAsync(args).ConfigureAwait(false);
}

if (args.Length > 0 && args[0] == "guest-io")
{
    return await GuestIo.RunAsync(args).ConfigureAwait(false);
}

if (args.Length > 0 && args[0] == "portal")
{
    return await PortalRoundTrip.RunAsync(args).ConfigureAwait(false);
}

if (args.Length > 0 && args[0] == "launcher")
{
    return await LauncherOverhead.RunAsync(args).ConfigureAwait(false);
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(TokenRatioTable).Assembly).Run(args);
TokenRatioTable.Print(summaries);
return 0;

namespace Spectrum.Bench
{
    /// <summary>
    /// Prints the token-verify figures as BENCHMARKS.md asks for them: verifies per second per
    /// core and the ratio to Ed25519 measured in the same run.
    /// </summary>
    internal static class TokenRatioTable
    {
        public static void Print(IEnumerable<Summary> summaries)
        {
            var means = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var report in summaries.SelectMany(s => s.Reports))
            {
                if (report.BenchmarkCase.Descriptor.Type == typeof(TokenBenchmarks) && report.ResultStatistics is { } stats)
                {
                    means[report.BenchmarkCase.Descriptor.WorkloadMethod.Name] = stats.Mean;
                }
            }

            if (!means.TryGetValue(nameof(TokenBenchmarks.Ed25519Verify), out var ed25519))
            {
                return;
            }

            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine();
            Console.WriteLine("Token verify vs Ed25519 verify (same run, one core)");
            Console.WriteLine("| benchmark | mean (ns) | verifies/s per core | speed vs Ed25519 (x faster) |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (name, label) in new[]
            {
                (nameof(TokenBenchmarks.TokenVerify1), "token, 1 caveat"),
                (nameof(TokenBenchmarks.TokenVerify4), "token, 4 caveats"),
                (nameof(TokenBenchmarks.TokenVerify8), "token, 8 caveats"),
                (nameof(TokenBenchmarks.Ed25519Verify), "Ed25519 (64-byte message)"),
            })
            {
                if (means.TryGetValue(name, out var mean))
                {
                    Console.WriteLine(string.Format(inv, "| {0} | {1:N0} | {2:N0} | {3:F2}x |", label, mean, 1e9 / mean, ed25519 / mean));
                }
            }
        }
    }
}
