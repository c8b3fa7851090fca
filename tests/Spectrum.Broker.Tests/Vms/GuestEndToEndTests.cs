using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Spectrum.Broker.Tests.Vms;

/// <summary>
/// The loop the product exists for, with nothing faked: the real broker mounts each VM's view,
/// the real `spectrum-vm run` starts a real virtiofsd exporting it and a real QEMU (TCG) guest
/// built from Debian packages, and the guest reports what it sees over its serial console (SPECTRUM-* lines,
/// asserted line by line). Each guest boots in about 3 s.
/// </summary>
[Collection(GuestCollection.Name)]
public sealed class GuestEndToEndTests(GuestImage guest) : IAsyncLifetime
{
    /// <summary>The tree's owner: files a guest creates must belong to this uid on the host.</summary>
    private const int TreeOwner = 1000;

    private static readonly TimeSpan GuestTimeout = TimeSpan.FromSeconds(90);

    private readonly TestDirs dirs = new();
    private BrokerProcess? broker;

    private BrokerClient Client => broker!.Client;

    public Task InitializeAsync()
    {
        // Owned by an ordinary user, as a home directory is; the broker runs as root.
        foreach (var path in Directory.EnumerateFileSystemEntries(dirs.Tree, "*", SearchOption.AllDirectories).Append(dirs.Tree))
        {
            Chown(path, TreeOwner);
        }

        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (broker is not null)
        {
            // SIGTERM: the broker stops its guests itself; a failed test must not leave QEMU running.
            await broker.StopAsync();
            await broker.DisposeAsync();
        }

        KillLeftovers(dirs.Root);
        dirs.Dispose();
    }

    [QemuFact]
    public async Task Guest_SeesExactlyItsGrants_WithTheirRights_AndWritesBelongToTheTreeOwner()
    {
        Vm("editor", "probe", "spectrum.write=Documents/report.odt,Pictures/wallpaper.png spectrum.create=Documents/new.txt,Pictures/new.png",
            "[[grant]]\npath = \"Documents\"\nrights = \"rw\"\n\n[[grant]]\npath = \"Pictures/wallpaper.png\"\nrights = \"ro\"\n");
        await StartBrokerAsync();

        var run = await RunAsync("editor");
        var lines = await SerialAsync("editor", "SPECTRUM-DONE");

        Assert.False(run.AlreadyRunning);
        Assert.Equal(VmStates.Running, run.Vm.State);
        Assert.Equal(
            [
                "SPECTRUM-MOUNT PASS /run/virtiofs/virtiofs0",
                "SPECTRUM-LS Documents",
                "SPECTRUM-LS Documents/Work",
                "SPECTRUM-LS Documents/Work/notes.txt",
                "SPECTRUM-LS Documents/report.odt",
                "SPECTRUM-LS Pictures",
                "SPECTRUM-LS Pictures/wallpaper.png",
                "SPECTRUM-CAT Documents/Work/notes.txt notes",
                "SPECTRUM-CAT Documents/report.odt report",
                "SPECTRUM-CAT Pictures/wallpaper.png png",
                "SPECTRUM-WRITE Documents/report.odt OK",
                "SPECTRUM-WRITE Pictures/wallpaper.png FAIL Permission denied",
                "SPECTRUM-CREATE Documents/new.txt OK",
                "SPECTRUM-CREATE Pictures/new.png FAIL Permission denied",
                "SPECTRUM-PROBED",
                "SPECTRUM-DONE probe",
            ],
            lines.SkipWhile(l => !l.StartsWith("SPECTRUM-MOUNT", StringComparison.Ordinal)));

        Assert.Equal("report\nwritten by guest\n", await File.ReadAllTextAsync(Path.Combine(dirs.Tree, "Documents/report.odt")));
        Assert.Equal("png\n", await File.ReadAllTextAsync(Path.Combine(dirs.Tree, "Pictures/wallpaper.png")));
        var created = Path.Combine(dirs.Tree, "Documents/new.txt");
        Assert.Equal("created by guest\n", await File.ReadAllTextAsync(created));
        Assert.Equal(TreeOwner, OwnerOf(created));
        Assert.False(File.Exists(Path.Combine(dirs.Tree, "Pictures/new.png")));

        var stopped = await UntilAsync("editor", v => v.State == VmStates.Stopped);
        Assert.Equal(VmExitReasons.Poweroff, stopped.LastExit);
        var audit = await Client.AuditAsync("&vm=editor");
        Assert.Contains(audit, a => a.Action == "vm-start" && a.Result == "ok");
        Assert.Contains(audit, a => a.Action == "vm-stop" && a.Result == "ok" && a.Detail!.Contains("exit=poweroff", StringComparison.Ordinal));
    }

    [QemuFact]
    public async Task GrantAndRevoke_WhileTheGuestRuns_AppearAndVanishInside_AndTheOpenHandleFails()
    {
        Vm("reader", "live", "spectrum.wait=Downloads/README.txt", "");
        await StartBrokerAsync();

        await RunAsync("reader");
        await SerialAsync("reader", "SPECTRUM-WAITING");
        var grant = await Client.GrantAsync("reader", "Downloads/README.txt", "ro");
        var appeared = await SerialAsync("reader", "SPECTRUM-APPEARED");
        await Client.RevokeAsync(grant.Grant.Id);
        var lines = await SerialAsync("reader", "SPECTRUM-DONE");

        Assert.Equal("SPECTRUM-APPEARED Downloads/README.txt downloads", appeared[^1]);
        Assert.Contains("SPECTRUM-VANISHED Downloads/README.txt head: Downloads/README.txt: No such file or directory", lines);
        Assert.Single(lines, l => l.StartsWith("SPECTRUM-HANDLE FAIL", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("SPECTRUM-CHECK live FAIL", StringComparison.Ordinal));
    }

    [QemuFact]
    public async Task TwoGuests_RunningAtOnce_SeeDisjointViewsOfTheSameTree_AndStopEndsTheirSessions()
    {
        Vm("alpha", "probe", "spectrum.idle=1", "");
        Vm("beta", "probe", "spectrum.idle=1", "[[grant]]\npath = \"Pictures\"\n");
        await StartBrokerAsync();

        // open = a session grant, then run; beta runs on its static grant.
        var opened = await OpenAsync("alpha", "Documents/Work", "rw");
        var second = await RunAsync("beta");
        var again = await RunAsync("alpha");
        var reopened = await OpenAsync("alpha", "Documents/Work", "rw");
        var alpha = await SerialAsync("alpha", "SPECTRUM-PROBED");
        var beta = await SerialAsync("beta", "SPECTRUM-PROBED");
        var both = await ListAsync();

        Assert.Equal("session", opened.Grant.Persistence);
        Assert.Equal((true, opened.Vm.Pid), (again.AlreadyRunning, again.Vm.Pid));
        Assert.Equal((true, opened.Grant.Id), (reopened.AlreadyRunning, reopened.Grant.Id));
        Assert.False(second.AlreadyRunning);
        Assert.All(both, v => Assert.Equal(VmStates.Running, v.State));
        Assert.NotEqual(both[0].Pid, both[1].Pid);
        Assert.Equal(["SPECTRUM-LS Documents", "SPECTRUM-LS Documents/Work", "SPECTRUM-LS Documents/Work/notes.txt"], Listing(alpha));
        Assert.Equal(["SPECTRUM-LS Pictures", "SPECTRUM-LS Pictures/wallpaper.png"], Listing(beta));

        await SerialAsync("alpha", "SPECTRUM-IDLE");
        var stop = await StopAsync("alpha");

        Assert.Equal((true, VmExitReasons.Stopped, 1), (stop.WasRunning, stop.Exit, stop.SessionGrantsRevoked));
        Assert.Equal(VmStates.Stopped, stop.Vm.State);
        Assert.Equal("revoked", (await Client.ShowAsync(opened.Grant.Id)).State);
        Assert.Contains("SPECTRUM-POWERBUTTON", await SerialAsync("alpha", "SPECTRUM-DONE"));
        Assert.Equal(VmStates.Running, (await Client.VmAsync("beta")).State);
        Assert.False((await StopAsync("alpha")).WasRunning);
        await StopAsync("beta");
        Assert.Single(await Client.ListAsync("beta"));
    }

    [QemuFact]
    public async Task KillingTheVmm_IsDetected_SessionGrantsAreRevoked_AndNothingIsLeftBehind()
    {
        Vm("victim", "idle", "", "[[grant]]\npath = \"Pictures\"\n");
        await StartBrokerAsync();
        var session = await Client.GrantAsync("victim", "Documents/report.odt", session: true);

        var run = await RunAsync("victim");
        await SerialAsync("victim", "SPECTRUM-IDLE");
        var pids = (run.Vm.Pid!.Value, run.Vm.VirtiofsdPid!.Value);
        Process.GetProcessById(pids.Item1).Kill();
        var crashed = await UntilAsync("victim", v => v.State == VmStates.Stopped);

        Assert.Equal(VmExitReasons.Crashed, crashed.LastExit);
        Assert.Equal("revoked", (await Client.ShowAsync(session.Grant.Id)).State);
        Assert.Equal(["Pictures"], (await Client.ListAsync("victim")).Select(g => g.Path));
        Assert.False(IsAlive(pids.Item2), "virtiofsd outlived its VM");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(dirs.Run, "vm", "victim"), "*.sock*"));
        var audit = await Client.AuditAsync("&vm=victim&action=vm-stop");
        Assert.Equal("crashed", Assert.Single(audit).Result);
        Assert.True((await Client.VerifyAuditAsync()).Ok);
    }

    [QemuFact]
    public async Task BrokerKilledWhileAGuestRuns_RestartKillsTheOrphans_AndEndsTheSession()
    {
        Vm("orphan", "idle", "", "");
        await StartBrokerAsync();
        var session = await Client.GrantAsync("orphan", "Downloads", session: true);
        var run = await RunAsync("orphan");
        await SerialAsync("orphan", "SPECTRUM-IDLE");

        await broker!.KillHardAsync();
        await broker.DisposeAsync();
        Assert.True(IsAlive(run.Vm.Pid!.Value), "QEMU should outlive a SIGKILLed broker until the restart");
        broker = await BrokerProcess.StartAsync(dirs);

        Assert.False(IsAlive(run.Vm.Pid!.Value), "the orphaned QEMU survived the restart");
        Assert.False(IsAlive(run.Vm.VirtiofsdPid!.Value), "the orphaned virtiofsd survived the restart");
        Assert.Equal("revoked", (await Client.ShowAsync(session.Grant.Id)).State);
        var stop = Assert.Single(await Client.AuditAsync("&vm=orphan&action=vm-stop"));
        Assert.Equal("crashed", stop.Result);
        Assert.Contains("killed 2 orphaned processes", stop.Detail, StringComparison.Ordinal);

        // And the VM runs again under the new broker.
        Assert.False((await RunAsync("orphan")).AlreadyRunning);
        await SerialAsync("orphan", "SPECTRUM-IDLE");
        Assert.Equal(VmExitReasons.Stopped, (await StopAsync("orphan")).Exit);
    }

    private void Vm(string name, string check, string args, string grants) =>
        dirs.Policy(name, $"""
            [vm]
            kernel = "{guest.Kernel}"
            initramfs = "{guest.Initramfs}"
            disks = ["{guest.Disk}"]
            cmdline = "console=ttyS0 quiet spectrum.check={check} {args}"
            memory = "256M"
            vmm = "qemu"

            {grants}
            """);

    private async Task StartBrokerAsync() => broker = await BrokerProcess.StartAsync(dirs);

    private Task<VmRunResult> RunAsync(string vm) => VmCliAsync(BrokerJson.Default.VmRunResult, "run", vm);

    private Task<VmStopResult> StopAsync(string vm) => VmCliAsync(BrokerJson.Default.VmStopResult, "stop", vm);

    private Task<VmOpenResult> OpenAsync(string vm, string path, string rights) => VmCliAsync(BrokerJson.Default.VmOpenResult, "open", vm, path, "--rights", rights);

    private Task<IReadOnlyList<VmDto>> ListAsync() => VmCliAsync(BrokerJson.Default.IReadOnlyListVmDto, "list");

    /// <summary>Runs the real <c>spectrum-vm --json</c> (the apphost next to the tests) and parses what it prints.</summary>
    private async Task<T> VmCliAsync<T>(JsonTypeInfo<T> type, params string[] args)
    {
        var info = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "spectrum-vm"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in (string[])["--socket", dirs.Socket, "--json", .. args])
        {
            info.ArgumentList.Add(arg);
        }

        using var cli = Process.Start(info)!;
        var stdout = cli.StandardOutput.ReadToEndAsync();
        var stderr = cli.StandardError.ReadToEndAsync();
        await cli.WaitForExitAsync();
        Assert.True(cli.ExitCode == 0, $"spectrum-vm {string.Join(' ', args)} exited {cli.ExitCode}: {await stderr}");
        return JsonSerializer.Deserialize(await stdout, type)!;
    }

    /// <summary>The SPECTRUM-* lines of the VM's serial log once one starts with <paramref name="marker"/>.</summary>
    private async Task<IReadOnlyList<string>> SerialAsync(string vm, string marker)
    {
        var log = Path.Combine(dirs.Run, "vm", vm, "serial.log");
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var lines = File.Exists(log)
                ? (await File.ReadAllLinesAsync(log)).Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("SPECTRUM-", StringComparison.Ordinal)).ToList()
                : [];
            if (lines.Any(l => l.StartsWith(marker, StringComparison.Ordinal)))
            {
                return lines;
            }

            if (watch.Elapsed > GuestTimeout)
            {
                Assert.Fail($"no {marker} from {vm} in {GuestTimeout.TotalSeconds} s; serial: {string.Join(" | ", lines)}; "
                    + $"qemu.log: {Tail(vm, "qemu.log")}; virtiofsd.log: {Tail(vm, "virtiofsd.log")}; broker: {broker?.Output}");
            }

            await Task.Delay(100);
        }
    }

    private string Tail(string vm, string file)
    {
        var path = Path.Combine(dirs.Run, "vm", vm, file);
        return File.Exists(path) ? string.Join(" | ", File.ReadLines(path).TakeLast(10)) : "(none)";
    }

    private async Task<VmDto> UntilAsync(string vm, Func<VmDto, bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var dto = await Client.VmAsync(vm);
            if (condition(dto))
            {
                return dto;
            }

            Assert.True(watch.Elapsed < GuestTimeout, $"{vm} stayed {dto.State}; broker: {broker?.Output}");
            await Task.Delay(50);
        }
    }

    private static List<string> Listing(IEnumerable<string> lines) =>
        lines.Where(l => l.StartsWith("SPECTRUM-LS ", StringComparison.Ordinal)).ToList();

    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int OwnerOf(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var text = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return int.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }

    private static void Chown(string path, int uid)
    {
        using var chown = Process.Start("chown", ["-h", $"{uid}:{uid}", path]);
        chown.WaitForExit();
    }

    /// <summary>A safety net for failed tests: no QEMU or virtiofsd of this test may outlive it.</summary>
    private static void KillLeftovers(string root)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(root, StringComparison.Ordinal))
                {
                    using var p = Process.GetProcessById(pid);
                    p.Kill();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                // Gone already.
            }
        }
    }
}

/// <summary>Guests boot one test class at a time: two cores, TCG, ~220 MB each.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GuestCollection : ICollectionFixture<GuestImage>
{
    public const string Name = "guests";
}
