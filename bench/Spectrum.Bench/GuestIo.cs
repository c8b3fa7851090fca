using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Spectrum.Broker.Hosting;
using Spectrum.VmLauncher;
using Spectrum.VmLauncher.Qemu;

namespace Spectrum.Bench;

/// <summary>
/// Through a guest (BENCHMARKS.md): the same workloads, run inside a real guest by the check
/// <c>tests/guest/checks/iobench.sh</c>, on (a) the broker's view of a directory exported by
/// virtiofsd and (b) plain virtiofsd sharing the raw directory, same virtiofsd and cache mode
/// (never). Boots alternate between the two, starting with the other one each run, so drift hits
/// both alike. Prints medians and the ratio view / plain: under QEMU TCG only the ratio means
/// anything. Run: <c>Spectrum.Bench guest-io [--runs N] …</c> (see <see cref="Usage"/>).
/// </summary>
internal static class GuestIo
{
    /// <summary>The VM name of the view configuration (its policy file is vms/bench.toml).</summary>
    private const string Vm = "bench";

    /// <summary>The fixture, relative to the tree: the guest sees it at this path in both configurations.</summary>
    private const string Fixture = "bench-data";

    private const string Usage = """
        usage: Spectrum.Bench guest-io [options]
          --runs N         boots per configuration (default 3; the median over all samples is reported)
          --reps N         rounds of all workloads inside each boot (default 1)
          --big-mib N      size of the sequentially read file (default 256)
          --small N        small files for stat / readdir (default 2000)
          --create N       files created per create run (default 1000)
          --guest-dir DIR  where tests/guest/build-guest.sh builds the guest (default $SPECTRUM_GUEST_DIR
                           or /var/tmp/spectrum-guest)
          --scratch DIR    parent of the scratch folder: tree, broker state, VM runtime dirs, logs
                           (default /var/tmp; the tree must be on a real filesystem)
          --passthrough    the view uses FUSE kernel passthrough ([view] passthrough = true)
          --timeout S      seconds one guest may run before it is killed (default 300)
          --keep           keep the scratch folder (serial logs of every boot under logs/)
        """;

    // Workload keys as the guest prints them, in table order, with their labels.
    private static readonly (string Key, Func<Options, string> Label)[] Workloads =
    [
        ("seqread_cold", o => $"seqread {o.BigMib} MiB cold"),
        ("seqread_warm", o => $"seqread {o.BigMib} MiB warm"),
        ("stat_cold", o => $"stat {o.Small} cold"),
        ("stat_warm", o => $"stat {o.Small} warm"),
        ("readdir_cold", o => $"readdir {o.Small} cold"),
        ("readdirstat_cold", o => $"readdir+stat {o.Small} cold"),
        ("create", o => $"create {o.Create} (4 KiB each)"),
    ];

    private const string WholeRun = "guest";

    public static Task<int> RunAsync(string[] args) =>
        BenchCommand.RunAsync("guest-io", Usage, args, Options.Parse, static o => o.Help, static e => e is GuestIoException or VmLaunchException, RunAsync);

    private static async Task<int> RunAsync(Options options, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        var virtiofsd = Virtiofsd.FindBinary()
            ?? throw new GuestIoException("virtiofsd not found; apt-get install qemu-system-x86 (it ships /usr/lib/qemu/virtiofsd)");
        var qemu = new QemuBackend().BinaryFor(VmArch.X86_64);
        var (kernel, initramfs) = BuildGuest(options.GuestDir);
        var kvm = QemuBackend.KvmWorks(qemu, VmArch.X86_64);

        await using var broker = new BenchBroker("spectrum-guest-io-", options.Scratch, options.Keep);
        Progress($"scratch {broker.Root}");
        var raw = Path.Combine(broker.Tree, Fixture);
        await MakeFixtureAsync(broker.Tree, options, cancellationToken);
        broker.Policy(Vm, $"""
            # Written by Spectrum.Bench guest-io: the fixture, read-write, and nothing else.
            [[grant]]
            path = "{Fixture}"
            rights = "rw"

            [view]
            passthrough = {(options.Passthrough ? "true" : "false")}
            """);
        await broker.StartAsync();
        var viewed = await broker.WaitForViewAsync(Vm, Path.Combine(Fixture, "big"), TimeSpan.FromSeconds(20));
        Progress($"view mounted at {broker.View(Vm)}");

        // The host's caches start warm for both (cold means the guest's caches; see iobench.sh).
        await WarmAsync(raw, options, cancellationToken);
        await WarmAsync(Path.GetDirectoryName(viewed)!, options, cancellationToken);

        var logs = Directory.CreateDirectory(Path.Combine(broker.Root, "logs")).FullName;
        Config[] configs =
        [
            new("plain", broker.Tree, Path.Combine(broker.Root, "vm-plain"), $"{Fixture} other"),
            // The broker's runtime layout: virtiofsd.sock and serial.log beside the view.
            new("view", broker.View(Vm), Path.Combine(broker.RuntimeDir, "vm", Vm), Fixture),
        ];
        var supervisor = new VmSupervisor(new QemuBackend(new QemuOptions { Accelerator = QemuAccelerator.Auto }), virtiofsd);
        var samples = new Dictionary<(string Config, string Workload), List<double>>();
        var load = new List<string> { LoadAverage() };
        for (var run = 1; run <= options.Runs; run++)
        {
            for (var j = 0; j < configs.Length; j++)
            {
                var config = configs[(j + run - 1) % configs.Length];
                Progress($"run {run}/{options.Runs}: {config.Name}");
                var spec = new VmSpec
                {
                    Name = config.Name == "view" ? Vm : "plain",
                    Kernel = kernel,
                    Initramfs = initramfs,
                    Cmdline = string.Create(
                        CultureInfo.InvariantCulture,
                        $"console=ttyS0 quiet panic=-1 spectrum.check=iobench spectrum.dir={Fixture} spectrum.nsmall={options.Small} spectrum.ncreate={options.Create} spectrum.reps={options.Reps}"),
                    MemoryBytes = 256L << 20,
                    Cpus = 1,
                    Vmm = VmmKind.Qemu,
                    Cache = VirtiofsCache.Never,
                    SharedDirectory = config.Share,
                    RuntimeDirectory = config.Runtime,
                };
                var (results, wall) = await BootAsync(supervisor, spec, config.Top, options, Path.Combine(logs, $"{config.Name}-{run}.serial.log"), cancellationToken);
                foreach (var (workload, us) in results)
                {
                    Add(samples, (config.Name, workload), us / 1000.0);
                }

                Add(samples, (config.Name, WholeRun), wall);
            }
        }

        load.Add(LoadAverage());
        Report(options, samples, kernelVersion: ReadOrEmpty(Path.Combine(options.GuestDir, "kernel-version")).Trim(), kvm, virtiofsd, load, total.Elapsed);
        return 0;
    }

    /// <summary>Boots one guest, waits for it to power off, and returns its SPECTRUM-BENCH samples (µs) and the whole run (ms).</summary>
    private static async Task<(List<(string Workload, double Us)> Results, double WallMs)> BootAsync(
        VmSupervisor supervisor, VmSpec spec, string top, Options options, string keptSerial, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        SupervisedVm vm;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                vm = await supervisor.StartAsync(spec, cancellationToken);
                break;
            }
            catch (VmLaunchException e) when (attempt < 3)
            {
                // Seen on a loaded host: QEMU creates qmp.sock (bind) a moment before it listens,
                // and the launcher's single connect gets ECONNREFUSED. A start that never ran the
                // guest measured nothing, so it is simply tried again.
                Progress($"guest {spec.Name} did not start ({e.Message.Trim()}); trying again");
                watch.Restart();
            }
        }

        VmExit exit;
        try
        {
            exit = await vm.Exited.WaitAsync(options.Timeout, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            await vm.StopAsync(TimeSpan.Zero, CancellationToken.None);
            if (e is OperationCanceledException)
            {
                throw;
            }

            throw new GuestIoException($"guest {spec.Name} still running after {options.Timeout.TotalSeconds:0} s; killed it. Serial console:\n{Tail(Path.Combine(spec.RuntimeDirectory, "serial.log"))}");
        }

        var wall = watch.Elapsed.TotalMilliseconds;
        var serial = Path.Combine(spec.RuntimeDirectory, "serial.log");
        File.Copy(serial, keptSerial, overwrite: true);
        var markers = File.ReadLines(serial)
            .Select(l => l.TrimEnd('\r'))
            .Select(l => l.IndexOf("SPECTRUM-", StringComparison.Ordinal) is var i and >= 0 ? l[i..] : null)
            .OfType<string>()
            .ToList();
        if (exit.Reason != VmExitReason.GuestPoweredOff || !markers.Contains($"SPECTRUM-CHECK iobench PASS {Fixture}"))
        {
            throw new GuestIoException($"guest {spec.Name} ended {exit.Reason} (status {exit.ExitCode}) without a passing iobench check. Serial console:\n{Tail(serial)}");
        }

        var share = markers.FirstOrDefault(m => m.StartsWith("SPECTRUM-BENCH-SHARE ", StringComparison.Ordinal))?["SPECTRUM-BENCH-SHARE ".Length..];
        if (share != top)
        {
            throw new GuestIoException($"guest {spec.Name} saw '{share}' at the top of its share, expected '{top}': it was not given the share this configuration is about");
        }

        var results = new List<(string, double)>();
        foreach (var marker in markers.Where(m => m.StartsWith("SPECTRUM-BENCH ", StringComparison.Ordinal)))
        {
            // SPECTRUM-BENCH <workload> <round> <microseconds>
            var f = marker.Split(' ');
            if (f.Length != 4 || !double.TryParse(f[3], NumberStyles.Float, CultureInfo.InvariantCulture, out var us))
            {
                throw new GuestIoException($"guest {spec.Name} printed a malformed result: {marker}");
            }

            results.Add((f[1], us));
        }

        return (results, wall);
    }

    private static void Report(
        Options o, Dictionary<(string Config, string Workload), List<double>> samples, string kernelVersion, bool kvm,
        string virtiofsd, List<string> load, TimeSpan total)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("## Through a guest: the broker's view vs plain virtiofsd");
        Console.WriteLine();
        Console.WriteLine(string.Format(
            inv,
            "QEMU {0}, 1 vCPU, 256 MiB, guest kernel {1}; {2} ({3}), cache=never in both; view passthrough {4}. " +
            "Host: {5}, {6} CPUs. {7} boot(s) per configuration, alternated, {8} round(s) per boot. " +
            "Median in ms of the guest's own clock (CLOCK_MONOTONIC); ratio = view / plain. " +
            "Cold = the guest's caches dropped (the host's stay warm). Load average before/after: {9} / {10}.",
            kvm ? "KVM" : "TCG (only the ratios mean anything)",
            kernelVersion.Length > 0 ? kernelVersion : "?",
            virtiofsd,
            Virtiofsd.DetectFlavor(virtiofsd) == VirtiofsdFlavor.Rust ? "Rust" : "C",
            o.Passthrough ? "on" : "off",
            "Linux " + ReadOrEmpty("/proc/sys/kernel/osrelease").Trim(),
            Environment.ProcessorCount,
            o.Runs,
            o.Reps,
            load[0],
            load[^1]));
        if (load.Any(l => double.TryParse(l.Split(' ')[0], NumberStyles.Float, inv, out var one) && one > Environment.ProcessorCount / 2.0))
        {
            Console.WriteLine();
            Console.WriteLine("**Warning:** the machine was busy (load average above half the CPUs): expect noise; rerun on a quiet machine, or with more --runs.");
        }

        Console.WriteLine();
        Console.WriteLine("| workload | plain ms | view ms | view / plain |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (key, label) in Workloads.Select(w => (w.Key, w.Label(o))).Append((WholeRun, "whole guest run, host clock: boot, all workloads, power-off")))
        {
            var plain = Median(samples.GetValueOrDefault(("plain", key)));
            var view = Median(samples.GetValueOrDefault(("view", key)));
            Console.WriteLine(string.Format(inv, "| {0} | {1} | {2} | {3} |", label, Ms(plain), Ms(view), plain is > 0 && view is not null ? $"{view / plain:F2}×" : "—"));
        }

        Console.WriteLine();
        Console.WriteLine("Raw samples (ms, in boot order):");
        foreach (var workload in Workloads.Select(w => w.Key).Append(WholeRun))
        {
            foreach (var config in (string[])["plain", "view"])
            {
                if (samples.TryGetValue((config, workload), out var list))
                {
                    Console.WriteLine($"- {workload}, {config}: {string.Join(' ', list.Select(v => v.ToString("F1", inv)))}");
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine(string.Format(inv, "Total wall time: {0:F0} s.", total.TotalSeconds));
    }

    private static string Ms(double? v) => v switch
    {
        null => "—",
        >= 100 => v.Value.ToString("F0", CultureInfo.InvariantCulture),
        >= 10 => v.Value.ToString("F1", CultureInfo.InvariantCulture),
        _ => v.Value.ToString("F2", CultureInfo.InvariantCulture),
    };

    private static double? Median(List<double>? values)
    {
        if (values is null || values.Count == 0)
        {
            return null;
        }

        var sorted = values.Order().ToList();
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static void Add(Dictionary<(string, string), List<double>> samples, (string, string) key, double value)
    {
        if (!samples.TryGetValue(key, out var list))
        {
            samples[key] = list = [];
        }

        list.Add(value);
    }

    /// <summary>Runs tests/guest/build-guest.sh (idempotent: it rebuilds only when the checks or the kernel changed).</summary>
    internal static (string Kernel, string Initramfs) BuildGuest(string dir)
    {
        var checkout = BrokerPaths.FindCheckout(Environment.CurrentDirectory) ?? BrokerPaths.FindCheckout()
            ?? throw new GuestIoException("cannot find the checkout (Spectrum.sln) from the current directory; run from the repository");
        var script = Path.Combine(checkout, "tests", "guest", "build-guest.sh");
        Progress($"guest image: {script} {dir}");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(dir);
        using var build = Process.Start(info) ?? throw new GuestIoException("cannot run bash");
        var stderr = build.StandardError.ReadToEndAsync();
        build.StandardOutput.ReadToEnd();
        build.WaitForExit();
        if (build.ExitCode != 0)
        {
            throw new GuestIoException($"build-guest.sh failed ({build.ExitCode}): {stderr.Result}");
        }

        return (Path.Combine(dir, "vmlinuz"), Path.Combine(dir, "initramfs.img"));
    }

    /// <summary>
    /// tree/bench-data/big (random bytes, so nothing can shortcut zeros), tree/bench-data/small/f1..fN
    /// (4 KiB each), and an ungranted sibling tree/other/ that only plain virtiofsd shows.
    /// </summary>
    private static async Task MakeFixtureAsync(string tree, Options o, CancellationToken cancellationToken)
    {
        Progress($"fixture: {o.BigMib} MiB file, {o.Small} small files");
        var root = Path.Combine(tree, Fixture);
        Directory.CreateDirectory(Path.Combine(root, "small"));
        Directory.CreateDirectory(Path.Combine(tree, "other"));
        await File.WriteAllTextAsync(Path.Combine(tree, "other", "not-granted.txt"), "only plain virtiofsd shows this\n", cancellationToken);
        var chunk = new byte[1 << 20];
        await using (var big = new FileStream(Path.Combine(root, "big"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 0))
        {
            for (var i = 0; i < o.BigMib; i++)
            {
                RandomNumberGenerator.Fill(chunk);
                await big.WriteAsync(chunk, cancellationToken);
            }
        }

        var small = chunk.AsMemory(0, 4096);
        for (var i = 1; i <= o.Small; i++)
        {
            await using var file = new FileStream(Path.Combine(root, "small", "f" + i.ToString(CultureInfo.InvariantCulture)), FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
            await file.WriteAsync(small, cancellationToken);
        }
    }

    /// <summary>Reads the big file and stats every small file once through <paramref name="dir"/>.</summary>
    private static async Task WarmAsync(string dir, Options o, CancellationToken cancellationToken)
    {
        await using (var big = File.OpenRead(Path.Combine(dir, "big")))
        {
            await big.CopyToAsync(Stream.Null, cancellationToken);
        }

        for (var i = 1; i <= o.Small; i++)
        {
            _ = File.GetLastWriteTimeUtc(Path.Combine(dir, "small", "f" + i.ToString(CultureInfo.InvariantCulture)));
        }
    }

    private static string Tail(string file, int lines = 25) =>
        File.Exists(file) ? string.Join('\n', File.ReadLines(file).TakeLast(lines)) : $"({file} does not exist)";

    internal static string ReadOrEmpty(string file) => File.Exists(file) ? File.ReadAllText(file) : string.Empty;

    internal static string LoadAverage() => string.Join(' ', ReadOrEmpty("/proc/loadavg").Split(' ').Take(3));

    internal static void Progress(string message) =>
        Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    /// <summary>A configuration: what virtiofsd exports, and the VM's runtime directory.</summary>
    /// <param name="Name">plain or view.</param>
    /// <param name="Share">What virtiofsd exports.</param>
    /// <param name="Runtime">The VM's runtime directory (virtiofsd.sock, serial.log).</param>
    /// <param name="Top">What the guest must see at the top of its share: the view shows the granted
    /// fixture alone, plain virtiofsd the whole tree, so a run can never be counted for the other.</param>
    private sealed record Config(string Name, string Share, string Runtime, string Top);

    private sealed record Options
    {
        public int Runs { get; init; } = 3;

        public int Reps { get; init; } = 1;

        public int BigMib { get; init; } = 256;

        public int Small { get; init; } = 2000;

        public int Create { get; init; } = 1000;

        public string GuestDir { get; init; } = Environment.GetEnvironmentVariable("SPECTRUM_GUEST_DIR") ?? "/var/tmp/spectrum-guest";

        public string Scratch { get; init; } = "/var/tmp";

        public bool Passthrough { get; init; }

        public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(300);

        public bool Keep { get; init; }

        public bool Help { get; init; }

        public static Options Parse(string[] args)
        {
            var o = new Options();
            var r = new OptionReader(args);
            while (r.Next(out var name))
            {
                o = name switch
                {
                    "--runs" => o with { Runs = r.Count(1) },
                    "--reps" => o with { Reps = r.Count(1) },
                    "--big-mib" => o with { BigMib = r.Count(1) },
                    "--small" => o with { Small = r.Count(1) },
                    "--create" => o with { Create = r.Count(1) },
                    "--guest-dir" => o with { GuestDir = Path.GetFullPath(r.Value()) },
                    "--scratch" => o with { Scratch = Path.GetFullPath(r.Value()) },
                    "--passthrough" => o with { Passthrough = true },
                    "--timeout" => o with { Timeout = TimeSpan.FromSeconds(r.Count(10)) },
                    "--keep" => o with { Keep = true },
                    "-h" or "--help" => o with { Help = true },
                    var other => throw new ArgumentException($"unknown option {other}"),
                };
            }

            return o;
        }
    }
}

/// <summary>The benchmark cannot run or a guest failed; the message names the cause.</summary>
internal sealed class GuestIoException(string message) : Exception(message);
