using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spectrum.Broker.Contracts;
using Spectrum.Broker.Hosting;
using Spectrum.VmLauncher;

namespace Spectrum.Bench;

/// <summary>
/// The launcher's own overhead (bench/launcher/README.md): from the control API's
/// <c>POST /v1/vms/{vm}/run</c> (what <c>spectrum-vm run</c> sends) to the exec of the VMM, and
/// from the VMM's exit to the end of the broker's cleanup, guest boot excluded. The VMM is
/// <c>bench/launcher/vmm-stamp.c</c> in front of the real QEMU, so both instants are stamped on
/// CLOCK_REALTIME by the process itself. References in the same run: the same wrapper started by a
/// bare <see cref="Process.Start()"/> (with /bin/true behind it), exec minus the instant before
/// the call; and how long .NET takes to observe that wrapper's exit. Run:
/// <c>Spectrum.Bench launcher [--runs N]</c> (see <see cref="Usage"/>).
/// </summary>
internal static class LauncherOverhead
{
    private const string Vm = "launcher";

    /// <summary>Where the wrapper appends its stamps (inherited by the broker's children).</summary>
    private const string StampsEnv = "SPECTRUM_LBENCH_STAMPS";

    /// <summary>The program the wrapper runs: QEMU for the broker's VMM, /bin/true for the reference.</summary>
    private const string RealEnv = "SPECTRUM_LBENCH_REAL";

    /// <summary>Bare starts of the wrapper per guest boot: cheap, so more of them steady the reference.</summary>
    private const int ReferencesPerRun = 3;

    private const string Usage = """
        usage: Spectrum.Bench launcher [options]
          --runs N         guest boots measured (default 10), after one warm-up boot that is reported
                           apart; each boot is preceded by 3 reference starts
          --guest-dir DIR  where tests/guest/build-guest.sh builds the guest (default $SPECTRUM_GUEST_DIR
                           or /var/tmp/spectrum-guest)
          --scratch DIR    parent of the scratch folder: tree, broker state, runtime, the compiled
                           wrapper (default /var/tmp)
          --timeout S      seconds one guest may run before it is killed (default 120)
          --keep           keep the scratch folder (qemu.log, serial.log, virtiofsd.log of the last boot)
        """;

    public static Task<int> RunAsync(string[] args) =>
        BenchCommand.RunAsync("launcher", Usage, args, Options.Parse, static o => o.Help, static e => e is GuestIoException or VmLaunchException or BrokerClientException, RunRestoringStampsAsync);

    /// <summary>The run sets the stamping wrapper's environment for the broker it starts; the caller's is put back after.</summary>
    private static async Task<int> RunRestoringStampsAsync(Options options, CancellationToken cancellationToken)
    {
        var saved = (Stamps: Environment.GetEnvironmentVariable(StampsEnv), Real: Environment.GetEnvironmentVariable(RealEnv));
        try
        {
            return await RunAsync(options, cancellationToken);
        }
        finally
        {
            Environment.SetEnvironmentVariable(StampsEnv, saved.Stamps);
            Environment.SetEnvironmentVariable(RealEnv, saved.Real);
        }
    }

    private static async Task<int> RunAsync(Options options, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        if (!Environment.IsPrivilegedProcess)
        {
            throw new GuestIoException("needs root: the broker mounts a FUSE view and virtiofsd sandboxes itself with chroot");
        }

        var checkout = BrokerPaths.FindCheckout(Environment.CurrentDirectory) ?? BrokerPaths.FindCheckout()
            ?? throw new GuestIoException("cannot find the checkout (Spectrum.sln) from the current directory; run from the repository");
        var qemu = Spectrum.Interop.Executables.Find("qemu-system-x86_64")
            ?? throw new GuestIoException("qemu-system-x86_64 not found on PATH; apt-get install qemu-system-x86");
        var virtiofsd = Virtiofsd.FindBinary()
            ?? throw new GuestIoException("virtiofsd not found; apt-get install qemu-system-x86 (it ships /usr/lib/qemu/virtiofsd)");
        var (kernel, initramfs) = GuestIo.BuildGuest(options.GuestDir);

        await using var broker = new BenchBroker("spectrum-launcher-", options.Scratch, options.Keep);
        GuestIo.Progress($"scratch {broker.Root}");
        var wrapper = await CompileWrapperAsync(checkout, Directory.CreateDirectory(Path.Combine(broker.Root, "bin")).FullName, cancellationToken);
        var launcherStamps = Path.Combine(broker.Root, "vmm.stamps");
        var referenceStamps = Path.Combine(broker.Root, "reference.stamps");

        Directory.CreateDirectory(Path.Combine(broker.Tree, "Documents"));
        Directory.CreateDirectory(Path.Combine(broker.Tree, "Downloads"));
        await File.WriteAllTextAsync(Path.Combine(broker.Tree, "Documents", "report.txt"), "report\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(broker.Tree, "Downloads", "opened.txt"), "opened for one session\n", cancellationToken);
        broker.Policy(Vm, $"""
            # Written by Spectrum.Bench launcher: the test guest with no check, so /init mounts the
            # view and powers off at once (the shortest guest there is).
            [vm]
            kernel = "{kernel}"
            initramfs = "{initramfs}"
            cmdline = "console=ttyS0 quiet"
            memory = "256M"
            vmm = "qemu"

            [[grant]]
            path = "Documents"
            rights = "rw"
            """);

        // The broker's children (virtiofsd, the wrapper) inherit this process's environment; the
        // broker itself reads only what env hands it, so SPECTRUM_QEMU goes there.
        Environment.SetEnvironmentVariable(StampsEnv, launcherStamps);
        Environment.SetEnvironmentVariable(RealEnv, qemu);
        var probe = new CleanupProbe(Vm);
        await broker.StartAsync(name => name == "SPECTRUM_QEMU" ? wrapper : null, logging => logging.AddProvider(probe));
        await broker.WaitForViewAsync(Vm, Path.Combine("Documents", "report.txt"), TimeSpan.FromSeconds(20));
        GuestIo.Progress($"view mounted at {broker.View(Vm)}; VMM {wrapper} -> {qemu}");

        var runtime = Path.Combine(broker.RuntimeDir, "vm", Vm);
        using var listening = new ListeningProbe(runtime);
        var samples = new Samples();
        var warmUp = new Samples();
        var load = new List<string> { GuestIo.LoadAverage() };
        using var client = new BrokerClient(broker.Services.Paths.Socket, TimeSpan.FromSeconds(120));
        for (var run = 0; run <= options.Runs; run++)
        {
            var into = run == 0 ? warmUp : samples;
            GuestIo.Progress(run == 0 ? "warm-up boot (reported apart)" : $"run {run}/{options.Runs}");
            for (var i = 0; i < ReferencesPerRun; i++)
            {
                var (exec, observed) = await ReferenceAsync(wrapper, referenceStamps, cancellationToken);
                into.Add("ref.exec", exec);
                into.Add("ref.exit", observed);
            }

            into.Add("probe", ProbeFlavor(virtiofsd));
            await BootAsync(broker, client, probe, listening, runtime, launcherStamps, options, into, run, cancellationToken);
        }

        load.Add(GuestIo.LoadAverage());
        Report(options, samples, warmUp, qemu, virtiofsd, load, total.Elapsed);
        return 0;
    }

    /// <summary>One measured boot: session grant, run, the guest powers off, cleanup; every instant checked.</summary>
    private static async Task BootAsync(
        BenchBroker broker, BrokerClient client, CleanupProbe probe, ListeningProbe listening, string runtime, string stamps, Options options, Samples into, int run, CancellationToken cancellationToken)
    {
        // A session grant, as `spectrum-vm open` makes: the cleanup has one to revoke. Visible in
        // the view before t0, so its view update is not timed.
        var grant = await client.SendAsync(
            HttpMethod.Post,
            ApiRoutes.Grants,
            new GrantRequest { Vm = Vm, Path = "Downloads/opened.txt", Rights = "ro", Session = true },
            BrokerJson.Default.GrantRequest,
            BrokerJson.Default.GrantCreated,
            cancellationToken);
        await broker.WaitForViewAsync(Vm, Path.Combine("Downloads", "opened.txt"), TimeSpan.FromSeconds(10));
        File.Delete(stamps);
        var cleaned = probe.Arm();
        listening.Reset();

        // A client of its own, as each `spectrum-vm run` is: the connection is made inside the timed call.
        VmRunResult result;
        long t0, answered;
        using (var fresh = new BrokerClient(client.SocketPath, TimeSpan.FromSeconds(120)))
        {
            t0 = Ns(DateTime.UtcNow);
            result = await fresh.SendAsync(HttpMethod.Post, ApiRoutes.VmRun(Vm), BrokerJson.Default.VmRunResult, cancellationToken);
            answered = Ns(DateTime.UtcNow);
        }

        if (result.AlreadyRunning || result.Vm.Pid is not int pid || result.Vm.VirtiofsdPid is not int virtiofsdPid)
        {
            throw new GuestIoException($"run answered without starting a guest (already running: {result.AlreadyRunning}, pid {result.Vm.Pid})");
        }

        CleanupProbe.Cleanup cleanup;
        try
        {
            cleanup = await cleaned.WaitAsync(options.Timeout, cancellationToken);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            await StopQuietlyAsync(client);
            if (e is OperationCanceledException)
            {
                throw;
            }

            throw new GuestIoException($"the guest still ran after {options.Timeout.TotalSeconds:0} s (or the broker never logged 'VM {Vm} exited', which CleanupProbe watches for); stopped it. Serial console:\n{Tail(Path.Combine(runtime, "serial.log"))}");
        }

        var (exec, exit, status) = ReadStamps(stamps, pid);
        if (cleanup.Reason != VmExitReasons.Poweroff || status != 0)
        {
            throw new GuestIoException($"the guest ended '{cleanup.Reason}' (wait status {status}), not by powering off. Serial console:\n{Tail(Path.Combine(runtime, "serial.log"))}");
        }

        // What "cleanup done" promises, checked after the fact: the instant is only worth reporting if it is all true.
        var leftovers = Directory.EnumerateFiles(runtime, "*.sock*").Select(Path.GetFileName).ToList();
        var record = Path.Combine(broker.StateDir, "vms", Vm + ".running");
        var ended = await client.SendAsync(HttpMethod.Get, ApiRoutes.Grants + "/" + grant.Grant.Id, BrokerJson.Default.GrantDto, cancellationToken);
        var stops = await client.SendAsync(HttpMethod.Get, $"{ApiRoutes.Audit}?vm={Vm}&action=vm-stop&limit=100000", BrokerJson.Default.IReadOnlyListAuditRecordDto, cancellationToken);
        var problems = new List<string>();
        if (leftovers.Count > 0)
        {
            problems.Add("sockets left: " + string.Join(' ', leftovers));
        }

        if (File.Exists(record))
        {
            problems.Add($"{record} still exists");
        }

        if (Directory.Exists($"/proc/{pid}") || Directory.Exists($"/proc/{virtiofsdPid}"))
        {
            problems.Add($"VMM {pid} or virtiofsd {virtiofsdPid} still exists");
        }

        if (ended.State != "revoked" || cleanup.Revoked != 1)
        {
            problems.Add($"session grant {ended.Id} is {ended.State}; the broker reported {cleanup.Revoked} revoked");
        }

        if (stops.Count != run + 1)
        {
            problems.Add($"{stops.Count} vm-stop audit records after {run + 1} boots");
        }

        if (problems.Count > 0)
        {
            throw new GuestIoException("the broker's cleanup was incomplete when it reported the VM ended: " + string.Join("; ", problems));
        }

        into.Add("exec", Ms(exec - t0));
        into.Add("exit", Ms(cleanup.AtNs - exit));
        into.Add("answered", Ms(answered - exec));
        into.Add("guest", Ms(exit - exec));
        if (listening.CreatedNs is long l)
        {
            into.Add("to-listening", Ms(l - t0));
            into.Add("listening-to-exec", Ms(exec - l));
        }

        // The vm-stop record's time is the store's clock (ms) when the session's transaction began.
        var transaction = Ns(stops.MaxBy(r => r.Seq)!.Time.UtcDateTime);
        into.Add("exit-to-tx", Ms(transaction - exit));
        into.Add("tx-to-clean", Ms(cleanup.AtNs - transaction));
    }

    /// <summary>The reference: the wrapper (in front of /bin/true) started as the launcher starts the VMM, stdio redirected the same way.</summary>
    private static async Task<(double ExecMs, double ObservedMs)> ReferenceAsync(string wrapper, string stamps, CancellationToken cancellationToken)
    {
        File.Delete(stamps);
        var info = new ProcessStartInfo(wrapper)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment[RealEnv] = "/bin/true";
        info.Environment[StampsEnv] = stamps;
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        var before = Ns(DateTime.UtcNow);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();

        // As ChildProcess: WaitForExitAsync also waits for stdout and stderr to reach EOF.
        await process.WaitForExitAsync(cancellationToken);
        var observed = Ns(DateTime.UtcNow);
        var (exec, exit, status) = ReadStamps(stamps, process.Id);
        if (status != 0 || process.ExitCode != 0)
        {
            throw new GuestIoException($"the reference wrapper ended with wait status {status}, exit code {process.ExitCode}");
        }

        return (Ms(exec - before), Ms(observed - exit));
    }

    /// <summary>
    /// The launcher's flavor lookup (<c>virtiofsd --help</c> the first time per binary, then
    /// remembered), timed alone from here: how much of run → exec it accounts for.
    /// </summary>
    private static double ProbeFlavor(string virtiofsd)
    {
        var watch = Stopwatch.StartNew();
        _ = Virtiofsd.DetectFlavor(virtiofsd);
        return watch.Elapsed.TotalMilliseconds;
    }

    /// <summary>The exec and exit stamps of <paramref name="pid"/>, and its raw wait status.</summary>
    private static (long Exec, long Exit, int Status) ReadStamps(string file, int pid)
    {
        long? exec = null, exit = null;
        var status = -1;
        foreach (var line in File.Exists(file) ? File.ReadLines(file) : Enumerable.Empty<string>())
        {
            // exec|exit PID NS STATUS
            var f = line.Split(' ');
            if (f.Length != 4 || f[1] != pid.ToString(CultureInfo.InvariantCulture))
            {
                continue;
            }

            var ns = long.Parse(f[2], CultureInfo.InvariantCulture);
            if (f[0] == "exec")
            {
                exec = ns;
            }
            else if (f[0] == "exit")
            {
                exit = ns;
                status = int.Parse(f[3], CultureInfo.InvariantCulture);
            }
        }

        return exec is long x && exit is long y
            ? (x, y, status)
            : throw new GuestIoException($"{file} has no exec and exit stamps of pid {pid}: was the wrapper the VMM?");
    }

    private static async Task<string> CompileWrapperAsync(string checkout, string dir, CancellationToken cancellationToken)
    {
        var source = Path.Combine(checkout, "bench", "launcher", "vmm-stamp.c");
        var output = Path.Combine(dir, "vmm-stamp");
        var info = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in (string[])["-O2", "-Wall", "-Wextra", "-Werror", "-o", output, source])
        {
            info.ArgumentList.Add(arg);
        }

        using var gcc = Process.Start(info) ?? throw new GuestIoException("cannot run gcc; apt-get install gcc");
        var errors = gcc.StandardError.ReadToEndAsync(cancellationToken);
        await gcc.StandardOutput.ReadToEndAsync(cancellationToken);
        await gcc.WaitForExitAsync(cancellationToken);
        return gcc.ExitCode == 0 ? output : throw new GuestIoException($"gcc {source} failed: {await errors}");
    }

    private static async Task StopQuietlyAsync(BrokerClient client)
    {
        try
        {
            await client.SendAsync(HttpMethod.Post, ApiRoutes.VmStop(Vm), new VmStopRequest { TimeoutSeconds = 0 }, BrokerJson.Default.VmStopRequest, BrokerJson.Default.VmStopResult);
        }
        catch (BrokerClientException)
        {
            // Disposing the broker stops its guests too.
        }
    }

    private static void Report(Options o, Samples s, Samples warm, string qemu, string virtiofsd, List<string> load, TimeSpan total)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("## Launcher overhead: run → VMM exec, VMM exit → cleanup done (guest boot excluded)");
        Console.WriteLine();
        Console.WriteLine(string.Format(
            inv,
            "{0} boots of the test guest with no check (mounts the view, powers off) by POST /v1/vms/{1}/run through BrokerClient on the broker's socket, " +
            "a new client and connection per boot (as each spectrum-vm run), one static grant and one session grant; VMM {2} (TCG) behind bench/launcher/vmm-stamp.c; virtiofsd {3}. " +
            "Instants on CLOCK_REALTIME: the wrapper stamps its exec and the real VMM's exit; cleanup done is when the broker logs 'VM {1} exited' " +
            "(after the processes are reaped, the sockets removed, the session grant revoked and vm-stop audited in one transaction, and the run record deleted; each checked afterwards). " +
            "Reference ({4} per boot, interleaved): the same wrapper in front of /bin/true, started by a bare Process.Start with the launcher's stdio redirection. " +
            "Host: Linux {5}, {6} CPUs. Load average before/after: {7} / {8}.",
            o.Runs,
            Vm,
            qemu,
            virtiofsd,
            ReferencesPerRun,
            GuestIo.ReadOrEmpty("/proc/sys/kernel/osrelease").Trim(),
            Environment.ProcessorCount,
            load[0],
            load[^1]));
        if (load.Any(l => double.TryParse(l.Split(' ')[0], NumberStyles.Float, inv, out var one) && one > Environment.ProcessorCount / 2.0))
        {
            Console.WriteLine();
            Console.WriteLine("**Warning:** the machine was busy (load average above half the CPUs): expect noise; rerun on a quiet machine, or with more --runs.");
        }

        Console.WriteLine();
        Console.WriteLine("| measure | launcher median ms | launcher p90 ms | reference | reference median ms | reference p90 ms | launcher / reference |");
        Console.WriteLine("|---|---:|---:|---|---:|---:|---:|");
        Row("run → VMM exec (t_exec − t0)", "exec", "Process.Start → exec", "ref.exec");
        Row("VMM exit → cleanup done", "exit", "exit → WaitForExitAsync returns", "ref.exit");

        Console.WriteLine();
        Console.WriteLine("Breakdown (medians, ms):");
        Console.WriteLine();
        Console.WriteLine("| part | median ms | p90 ms |");
        Console.WriteLine("|---|---:|---:|");
        Part("run → VMM exec: t0 → virtiofsd.sock created (API, checks, `virtiofsd --help` flavor probe, virtiofsd start; inotify, so late by its delivery)", "to-listening");
        Part("run → VMM exec: virtiofsd.sock created → VMM exec (the launcher's socket poll, 1 ms at first, and QEMU's spawn)", "listening-to-exec");
        Part("the launcher's virtiofsd flavor lookup alone, from the bench (`--help` once per binary, then remembered)", "probe");
        Part("exit → cleanup: VMM exit → session transaction begins (reaping, virtiofsd ended, sockets removed; vm-stop audit time, a ms clock: up to 1 ms early)", "exit-to-tx");
        Part("exit → cleanup: session transaction begins → cleanup done (grants revoked + vm-stop audited, SQLite WAL synchronous=FULL commit; run record deleted)", "tx-to-clean");
        Part("not launcher overhead: VMM exec → run answered (QEMU's start until QMP answers query-status)", "answered");
        Part("not launcher overhead: VMM exec → VMM exit (guest boot and power-off under TCG)", "guest");

        Console.WriteLine();
        Console.WriteLine("Warm-up boot (first run after the broker started: JIT, first connection), not in the medians: " + string.Join(", ", new[]
        {
            ("run → exec", "exec"), ("exit → cleanup", "exit"), ("reference exec", "ref.exec"), ("reference exit", "ref.exit"),
        }.Select(p => $"{p.Item1} {F(Median(warm.Get(p.Item2)))} ms")));
        Console.WriteLine();
        Console.WriteLine("Raw samples (ms, in order):");
        foreach (var key in (string[])["exec", "exit", "ref.exec", "ref.exit", "to-listening", "listening-to-exec", "probe", "exit-to-tx", "tx-to-clean", "answered", "guest"])
        {
            Console.WriteLine($"- {key}: {string.Join(' ', s.Get(key).Select(v => v.ToString("F2", inv)))}");
        }

        Console.WriteLine();
        Console.WriteLine(string.Format(inv, "Total wall time: {0:F0} s.", total.TotalSeconds));

        void Row(string label, string key, string refLabel, string refKey)
        {
            var m = Median(s.Get(key));
            var r = Median(s.Get(refKey));
            Console.WriteLine($"| {label} | {F(m)} | {F(P90(s.Get(key)))} | {refLabel} | {F(r)} | {F(P90(s.Get(refKey)))} | {(m is double a && r is > 0 ? (a / r.Value).ToString("F1", inv) + "×" : "—")} |");
        }

        void Part(string label, string key) =>
            Console.WriteLine($"| {label} | {F(Median(s.Get(key)))} | {F(P90(s.Get(key)))} |");
    }

    private static string F(double? v) => v switch
    {
        null => "—",
        >= 100 => v.Value.ToString("F0", CultureInfo.InvariantCulture),
        >= 10 => v.Value.ToString("F1", CultureInfo.InvariantCulture),
        _ => v.Value.ToString("F2", CultureInfo.InvariantCulture),
    };

    private static double? Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return null;
        }

        var sorted = values.Order().ToList();
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Nearest rank: with 10 samples, the 9th smallest.</summary>
    private static double? P90(IReadOnlyList<double> values) =>
        values.Count == 0 ? null : values.Order().ElementAt((int)Math.Ceiling(values.Count * 0.9) - 1);

    private static long Ns(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks * 100;

    private static double Ms(long ns) => ns / 1e6;

    private static string Tail(string file, int lines = 25) =>
        File.Exists(file) ? string.Join('\n', File.ReadLines(file).TakeLast(lines)) : $"({file} does not exist)";

    /// <summary>Samples by key, in the order taken.</summary>
    private sealed class Samples
    {
        private readonly Dictionary<string, List<double>> values = new(StringComparer.Ordinal);

        public void Add(string key, double value)
        {
            if (!values.TryGetValue(key, out var list))
            {
                values[key] = list = [];
            }

            list.Add(value);
        }

        public IReadOnlyList<double> Get(string key) => values.TryGetValue(key, out var list) ? list : [];
    }

    /// <summary>
    /// A logger on the broker's category that stamps the instant <c>VmService</c> logs
    /// "VM {Vm} exited": it does so right after the session's transaction (grants revoked,
    /// vm-stop audited) and the run record's deletion, and after the VMM and virtiofsd were reaped
    /// and their sockets removed; only completing <c>VmRun.Ended</c> follows. The stamp is taken
    /// synchronously on the broker's own cleanup path, so no polling delay is added.
    /// </summary>
    private sealed class CleanupProbe(string vm) : ILoggerProvider, ILogger
    {
        private const string ExitedFormat = "VM {Vm} exited ({Reason}, status {Status}); {Revoked} session grants revoked";

        private TaskCompletionSource<Cleanup>? pending;

        /// <summary>The next "exited" of the VM completes the returned task.</summary>
        public Task<Cleanup> Arm()
        {
            var next = new TaskCompletionSource<Cleanup>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref pending, next);
            return next.Task;
        }

        public ILogger CreateLogger(string categoryName) => categoryName == "Spectrum.Broker" ? this : NullLogger.Instance;

        public bool IsEnabled(LogLevel logLevel) => logLevel == LogLevel.Information;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var at = Ns(DateTime.UtcNow);
            if (state is not IReadOnlyList<KeyValuePair<string, object?>> fields
                || Field(fields, "{OriginalFormat}") as string != ExitedFormat
                || Field(fields, "Vm") as string != vm)
            {
                return;
            }

            Interlocked.Exchange(ref pending, null)?.TrySetResult(new Cleanup(
                at,
                Field(fields, "Reason") as string ?? "?",
                Field(fields, "Revoked") is int revoked ? revoked : -1));
        }

        public void Dispose()
        {
        }

        private static object? Field(IReadOnlyList<KeyValuePair<string, object?>> fields, string key)
        {
            foreach (var (k, v) in fields)
            {
                if (k == key)
                {
                    return v;
                }
            }

            return null;
        }

        /// <summary>When the broker finished cleaning up after the VM, how it ended, and how many session grants ended.</summary>
        public sealed record Cleanup(long AtNs, string Reason, int Revoked);
    }

    /// <summary>
    /// Stamps when virtiofsd creates its socket (inotify IN_CREATE via <see cref="FileSystemWatcher"/>,
    /// file names only). The kernel's own file times are no use here: a new inode gets the coarse
    /// clock, up to a tick (4 ms at HZ=250) early, which is the size of what is measured.
    /// </summary>
    private sealed class ListeningProbe : IDisposable
    {
        private readonly FileSystemWatcher watcher;
        private long created;

        public ListeningProbe(string runtime)
        {
            Directory.CreateDirectory(runtime);
            watcher = new FileSystemWatcher(runtime, Virtiofsd.SocketName) { NotifyFilter = NotifyFilters.FileName };
            watcher.Created += (_, _) => Interlocked.CompareExchange(ref created, Ns(DateTime.UtcNow), 0);
            watcher.EnableRaisingEvents = true;
        }

        /// <summary>The first creation since <see cref="Reset"/>, or null.</summary>
        public long? CreatedNs => Interlocked.Read(ref created) is var ns and > 0 ? ns : null;

        public void Reset() => Interlocked.Exchange(ref created, 0);

        public void Dispose() => watcher.Dispose();
    }

    private sealed record Options
    {
        public int Runs { get; init; } = 10;

        public string GuestDir { get; init; } = Environment.GetEnvironmentVariable("SPECTRUM_GUEST_DIR") ?? "/var/tmp/spectrum-guest";

        public string Scratch { get; init; } = "/var/tmp";

        public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

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
                    "--guest-dir" => o with { GuestDir = Path.GetFullPath(r.Value()) },
                    "--scratch" => o with { Scratch = Path.GetFullPath(r.Value()) },
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
