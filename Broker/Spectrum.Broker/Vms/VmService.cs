using System.Collections.Concurrent;
using Spectrum.Broker.Contracts;
using Spectrum.Broker.Grants;
using Spectrum.Broker.Hosting;
using Spectrum.Broker.State;
using Spectrum.Policy;
using Spectrum.VmLauncher;
using Spectrum.VmLauncher.CloudHypervisor;
using Spectrum.VmLauncher.Qemu;

namespace Spectrum.Broker.Vms;

/// <summary>Where the launcher finds its binaries (env SPECTRUM_QEMU, SPECTRUM_CLOUD_HYPERVISOR, SPECTRUM_VIRTIOFSD); null finds the usual ones.</summary>
public sealed record LauncherOptions(string? Qemu = null, string? CloudHypervisor = null, string? Virtiofsd = null)
{
    public static LauncherOptions FromEnvironment(Func<string, string?> env) =>
        new(Blank(env("SPECTRUM_QEMU")), Blank(env("SPECTRUM_CLOUD_HYPERVISOR")), Blank(env("SPECTRUM_VIRTIOFSD")));

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>
/// Runs the guests: one supervised VMM and virtiofsd per VM, exporting the VM's view. A VM's
/// session grants end when it stops for any reason (stop, poweroff, crash, broker restart), in the
/// same transaction as its <c>vm-stop</c> audit record. Each run leaves a record in the state
/// folder while it lives, so that a broker killed with SIGKILL finds and removes its orphans at
/// the next start instead of leaving a guest running with a view nobody serves.
/// </summary>
internal sealed partial class VmService(BrokerServices services, LauncherOptions launcher)
{
    /// <summary>How long <c>stop</c> waits for a graceful power-off by default.</summary>
    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long broker shutdown waits for each guest to power off before killing it.</summary>
    public static readonly TimeSpan ShutdownStopTimeout = TimeSpan.FromSeconds(3);

    private readonly ConcurrentDictionary<string, Slot> _slots = new(StringComparer.Ordinal);

    private string RecordsDir => Path.Combine(services.Paths.StateDir, "vms");

    /// <summary>Every VM the broker knows, with its run state.</summary>
    public IReadOnlyList<VmDto> List() =>
        services.Grants.Vms().Select(ToDto).ToList();

    /// <summary>One VM's entry; 404 when the broker does not know it.</summary>
    public VmDto Get(string vm) =>
        services.Grants.Vms().FirstOrDefault(v => v.Name == vm) is { } row
            ? ToDto(row)
            : throw UnknownVm(vm);

    /// <summary>Starts <paramref name="vmText"/> unless it runs already; returns once the VMM runs and the guest was told to boot.</summary>
    public async Task<VmRunResult> RunAsync(string actor, string vmText, CancellationToken ct)
    {
        var vm = GrantService.ValidateVm(vmText);
        var definition = Definition(vm);
        var slot = _slots.GetOrAdd(vm, _ => new Slot());
        await slot.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (slot.Run is { } previous)
            {
                if (!previous.Vm.Exited.IsCompleted)
                {
                    return new VmRunResult { Vm = Get(vm), AlreadyRunning = true };
                }

                // It has just exited: let its session grants end before a new session begins.
                await previous.Ended.ConfigureAwait(false);
            }

            var spec = Spec(vm, definition);
            var backend = Backend(vm, definition);

            // Before the VMM: Cloud Hypervisor forwards the guest's first connection to the
            // broker's socket as soon as the guest makes it; QEMU's socket is connected to once it appears.
            await services.Portal.AttachAsync(vm, PortalEndpointFor(spec, definition.Vmm)).ConfigureAwait(false);
            slot.Starting = true;
            SupervisedVm supervised;
            var backendPid = 0;
            try
            {
                // Not the caller's token: a client that gives up (Ctrl-C, its own timeout) must not
                // abandon a boot half-way; the backends bound the start with their own timeouts.
                supervised = await new VmSupervisor(backend, launcher.Virtiofsd)
                    .StartAsync(spec, CancellationToken.None, pid => { backendPid = pid; services.Views?.AllowBackend(vm, pid); })
                    .ConfigureAwait(false);
            }
            catch (VmLaunchException e)
            {
                if (backendPid != 0)
                {
                    services.Views?.DisallowBackend(vm, backendPid);
                }

                await services.Portal.DetachAsync(vm).ConfigureAwait(false);
                services.Store.Write(tx => tx.Audit(actor, AuditActions.VmStart, "failed", vm, detail: e.Message));
                throw BrokerRefusal.LaunchFailed($"VM {vm} did not start: {e.Message}");
            }
            catch
            {
                await services.Portal.DetachAsync(vm).ConfigureAwait(false);
                throw;
            }
            finally
            {
                slot.Starting = false;
            }

            var run = new VmRun(supervised, definition.Vmm);
            VmRunRecord.Write(RecordsDir, vm, run);
            services.Store.Write(tx => tx.Audit(actor, AuditActions.VmStart, "ok", vm,
                detail: $"vmm={VmmName(definition.Vmm)} pid={supervised.Vm.Pid} virtiofsd_pid={supervised.VirtiofsdPid}"));
            LogStarted(services.Logger, vm, VmmName(definition.Vmm), supervised.Vm.Pid, supervised.VirtiofsdPid);
            slot.Run = run;
            _ = WatchAsync(vm, run);
            return new VmRunResult { Vm = Get(vm), AlreadyRunning = false };
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    /// <summary>Stops <paramref name="vmText"/>: a graceful power-off, then SIGKILL after <paramref name="timeout"/>.</summary>
    public async Task<VmStopResult> StopAsync(string vmText, TimeSpan timeout, CancellationToken ct)
    {
        var vm = GrantService.ValidateVm(vmText);
        _ = Get(vm);
        if (!_slots.TryGetValue(vm, out var slot))
        {
            return new VmStopResult { Vm = Get(vm), WasRunning = false, SessionGrantsRevoked = 0 };
        }

        await slot.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (slot.Run is not { } run || run.Ended.IsCompleted)
            {
                return new VmStopResult { Vm = Get(vm), WasRunning = false, SessionGrantsRevoked = 0 };
            }

            run.StopRequested = true;

            // Not the caller's token: a stop half done by a vanished client would be worse than one finished.
            await run.Vm.StopAsync(timeout, CancellationToken.None).ConfigureAwait(false);
            var (reason, revoked) = await run.Ended.ConfigureAwait(false);
            return new VmStopResult { Vm = Get(vm), WasRunning = true, Exit = reason, SessionGrantsRevoked = revoked };
        }
        finally
        {
            slot.Gate.Release();
        }
    }

    /// <summary>Grants the requested path to the VM for its session, then runs it. If the run fails, the grant is withdrawn.</summary>
    public async Task<VmOpenResult> OpenAsync(string actor, string vmText, VmOpenRequest request, CancellationToken ct)
    {
        var vm = GrantService.ValidateVm(vmText);
        _ = Definition(vm);
        var path = GrantService.ValidatePath(request.Path);
        var rights = GrantService.ValidateRights(request.Rights);

        // Opening the same file twice in one session is one grant, not two.
        var existing = services.Grants.List(vm, path.Value, all: false)
            .FirstOrDefault(g => g.Path == path.Value && g.Persistence == "session" && g.State == GrantStates.Active && g.RightsValue == rights && g.ExpiresAt is null);
        var grant = existing ?? await services.Grants.GrantAsync(actor, new GrantSpec
        {
            Vm = vm,
            Path = request.Path,
            Rights = request.Rights,
            Session = true,
            Source = GrantSources.Cli,
            SourceDetail = $"{actor} (spectrum-vm open)",
        }, CancellationToken.None).ConfigureAwait(false);
        VmRunResult run;
        try
        {
            run = await RunAsync(actor, vm, CancellationToken.None).ConfigureAwait(false);
        }
        catch when (existing is null)
        {
            await services.Grants.RevokeAsync("broker", grant.Id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return new VmOpenResult { Grant = Api.DtoMapping.ToDto(services.Grants.Show(grant.Id)), Vm = run.Vm, AlreadyRunning = run.AlreadyRunning };
    }

    /// <summary>Stops every running VM (broker shutdown): each gets a short graceful window, then SIGKILL.</summary>
    public async Task StopAllAsync(CancellationToken ct)
    {
        var stops = _slots.Where(s => s.Value.Run is { Ended.IsCompleted: false })
            .Select(s => StopQuietlyAsync(s.Key, ct));
        await Task.WhenAll(stops).ConfigureAwait(false);
    }

    private async Task StopQuietlyAsync(string vm, CancellationToken ct)
    {
        try
        {
            await StopAsync(vm, ShutdownStopTimeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            LogStopFailed(services.Logger, vm, e);
        }
    }

    /// <summary>
    /// At start, before the views mount: kills the VMMs and virtiofsds a killed broker left
    /// behind, removes their sockets, and ends the session grants of the VMs that were running.
    /// </summary>
    public void RecoverAfterCrash()
    {
        foreach (var record in VmRunRecord.ReadAll(RecordsDir))
        {
            var killed = record.KillSurvivors();
            DeleteRuntimeSockets(record.Vm);
            var detail = killed == 0
                ? "the broker stopped while the VM ran; it was gone at restart"
                : $"the broker stopped while the VM ran; killed {killed} orphaned process{(killed == 1 ? "" : "es")} at restart";
            var revoked = EndSession(record.Vm, VmExitReasons.Crashed, detail);
            LogRecovered(services.Logger, record.Vm, killed, revoked);
            VmRunRecord.Delete(RecordsDir, record.Vm);
        }
    }

    private async Task WatchAsync(string vm, VmRun run)
    {
        var exit = await run.Vm.Exited.ConfigureAwait(false);

        // virtiofsd is gone: its pid may be anyone's next.
        services.Views?.DisallowBackend(vm, run.Vm.VirtiofsdPid);

        // The guest is gone: its dialogs close (answering nobody) before its session grants end.
        await services.Portal.DetachAsync(vm).ConfigureAwait(false);
        var reason = run.Vm.VirtiofsdDied ? VmExitReasons.Crashed : exit.Reason switch
        {
            VmExitReason.GuestPoweredOff => VmExitReasons.Poweroff,
            VmExitReason.Stopped => VmExitReasons.Stopped,
            VmExitReason.Killed when run.StopRequested => VmExitReasons.Killed,
            _ => VmExitReasons.Crashed,
        };
        var uptime = exit.ExitedAt - run.Vm.Vm.StartedAt;
        var detail = $"exit={reason} status={exit.ExitCode} uptime={uptime.TotalSeconds:0.0}s{(run.Vm.VirtiofsdDied ? " virtiofsd died" : "")}";
        var revoked = 0;
        try
        {
            revoked = EndSession(vm, reason, detail);
            VmRunRecord.Delete(RecordsDir, vm);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or ObjectDisposedException)
        {
            // The record stays: the next start ends the session instead.
            LogStopFailed(services.Logger, vm, e);
        }

        LogExited(services.Logger, vm, reason, exit.ExitCode, revoked);
        run.LastExit = reason;
        run.SetEnded(reason, revoked);
    }

    /// <summary>QEMU's virtio-serial socket (the broker connects), or Cloud Hypervisor's hybrid vsock port socket (the broker listens).</summary>
    private static Portal.Channel.PortalEndpoint PortalEndpointFor(VmSpec spec, Policy.VmmKind vmm) =>
        Portal.Channel.PortalEndpoint.For(vmm, vmm == Policy.VmmKind.Qemu
            ? Path.Combine(spec.RuntimeDirectory, QemuBackend.PortalSocketName)
            : CloudHypervisorLayout.PortalListenSocket(spec));

    /// <summary>Ends the VM's session grants and audits the stop, in one transaction. Returns how many grants ended.</summary>
    private int EndSession(string vm, string reason, string detail) =>
        services.Store.Write(tx =>
        {
            var ids = tx.Query<string>("SELECT id FROM grants WHERE vm = @vm AND persistence = 'session' AND state IN ('active', 'stale') ORDER BY path, id", new { vm }).ToList();
            var ended = ids.Count == 0 ? [] : GrantService.EndWithDescendants(tx, "broker", ids, GrantStates.Revoked, AuditActions.Revoke, $"session ended: VM {reason}");
            tx.Audit("broker", AuditActions.VmStop, reason == VmExitReasons.Crashed ? "crashed" : "ok", vm, detail: $"{detail} session_grants_revoked={ended.Count}");
            return ended.Count;
        });

    private VmDefinition Definition(string vm)
    {
        if (!services.Policy.Current.Vms.TryGetValue(vm, out var policy))
        {
            throw services.Grants.Vms().Any(v => v.Name == vm)
                ? BrokerRefusal.Conflict($"VM {vm} has grants but no policy file, so there is nothing to boot; write {PolicyFile(vm)} with a [vm] table, then `spectrum-grant policy apply`")
                : UnknownVm(vm);
        }

        var definition = policy.Vm
            ?? throw BrokerRefusal.Conflict($"VM {vm} has no [vm] table in {PolicyFile(vm)}, so there is nothing to boot; add one with at least kernel = \"/path/to/vmlinuz\", then `spectrum-grant policy apply`");
        foreach (var (what, file) in Files(definition))
        {
            if (!File.Exists(file))
            {
                throw BrokerRefusal.Conflict($"VM {vm}: {what} {file} does not exist; build or install it, or fix the path in {PolicyFile(vm)} (`spectrum-grant policy check` finds these)");
            }
        }

        return definition;
    }

    private static IEnumerable<(string What, string File)> Files(VmDefinition d)
    {
        yield return ("kernel", d.Kernel);
        if (d.Initramfs is not null)
        {
            yield return ("initramfs", d.Initramfs);
        }

        foreach (var disk in d.Disks)
        {
            yield return ("disk", disk);
        }
    }

    private string PolicyFile(string vm) => Path.Combine(services.Paths.Policies, "vms", vm + ".toml");

    private BrokerRefusal UnknownVm(string vm) =>
        BrokerRefusal.NotFound($"no VM named {vm}; declare it in {PolicyFile(vm)} (see `spectrum-vm list` for the known ones)");

    private VmSpec Spec(string vm, VmDefinition d)
    {
        var view = services.Views?.MountPoint(vm);
        if (view is null || services.Views!.Find(vm) is null)
        {
            throw BrokerRefusal.Conflict($"VM {vm} has no mounted view, so its guest would see nothing; see the broker's log for why the view did not mount");
        }

        return new VmSpec
        {
            Name = vm,
            Kernel = d.Kernel,
            Initramfs = d.Initramfs,
            Cmdline = d.Cmdline,
            Disks = d.Disks,
            MemoryBytes = d.MemoryBytes,
            Cpus = d.Cpus,
            Vmm = d.Vmm == Policy.VmmKind.Qemu ? VmLauncher.VmmKind.Qemu : VmLauncher.VmmKind.CloudHypervisor,
            Arch = d.Arch == VmArchitecture.Arm64 ? VmArch.Aarch64 : VmArch.X86_64,
            Cache = d.VirtiofsdCache switch
            {
                VirtiofsdCache.Metadata => VirtiofsCache.Metadata,
                VirtiofsdCache.Auto => VirtiofsCache.Auto,
                VirtiofsdCache.Always => VirtiofsCache.Always,
                _ => VirtiofsCache.Never,
            },
            SharedDirectory = view,
            RuntimeDirectory = RuntimeDir(vm),
        };
    }

    private IVmmBackend Backend(string vm, VmDefinition d)
    {
        if (d.Vmm == Policy.VmmKind.Qemu)
        {
            var binary = launcher.Qemu ?? (d.Arch == VmArchitecture.Arm64 ? "qemu-system-aarch64" : "qemu-system-x86_64");
            RequireBinary(vm, binary, "QEMU", "apt-get install qemu-system-x86 (or qemu-system-arm), or set SPECTRUM_QEMU");
            return new QemuBackend(new QemuOptions { Binary = binary }, services.Time);
        }

        var ch = launcher.CloudHypervisor ?? "cloud-hypervisor";
        RequireBinary(vm, ch, "Cloud Hypervisor", $"install it, set SPECTRUM_CLOUD_HYPERVISOR, or set vmm = \"qemu\" in {PolicyFile(vm)}");
        return new CloudHypervisorBackend(new CloudHypervisorBackendOptions { Executable = ch }, services.Time);
    }

    private static void RequireBinary(string vm, string binary, string what, string fix)
    {
        if (Interop.Executables.Find(binary) is null)
        {
            throw BrokerRefusal.Conflict($"VM {vm} needs {what}, but {binary} is not installed; {fix}");
        }
    }

    private string RuntimeDir(string vm) => Path.Combine(services.Paths.RuntimeDir, "vm", vm);

    private void DeleteRuntimeSockets(string vm)
    {
        var dir = RuntimeDir(vm);
        if (!Directory.Exists(dir))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(dir, "*.sock*"))
        {
            File.Delete(file);
        }
    }

    private VmDto ToDto(VmRow row)
    {
        services.Policy.Current.Vms.TryGetValue(row.Name, out var policy);
        var definition = policy?.Vm;
        var dto = new VmDto
        {
            Name = row.Name,
            Declared = row.Declared,
            PolicyFile = row.PolicyFile,
            Grants = row.Grants,
            Bootable = definition is not null,
            Vmm = definition is null ? null : VmmName(definition.Vmm),
        };
        if (!_slots.TryGetValue(row.Name, out var slot))
        {
            return dto;
        }

        var run = slot.Run;
        if (run is null || run.Ended.IsCompleted)
        {
            return dto with { State = slot.Starting ? VmStates.Starting : VmStates.Stopped, LastExit = run?.LastExit };
        }

        var started = run.Vm.Vm.StartedAt;
        return dto with
        {
            State = run.Vm.Vm.State switch
            {
                VmState.Running => VmStates.Running,
                _ => VmStates.Stopping,
            },
            Pid = run.Vm.Vm.Pid,
            VirtiofsdPid = run.Vm.VirtiofsdPid,
            StartedAt = started,
            UptimeSeconds = Math.Round((services.Time.GetUtcNow() - started).TotalSeconds, 3),
        };
    }

    internal static string VmmName(Policy.VmmKind vmm) => vmm == Policy.VmmKind.Qemu ? "qemu" : "cloud-hypervisor";

    /// <summary>One VM's lifecycle: the gate serializes run and stop; the run is the current (or last) one.</summary>
    private sealed class Slot
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        private volatile VmRun? _run;
        private volatile bool _starting;

        public VmRun? Run
        {
            get => _run;
            set => _run = value;
        }

        public bool Starting
        {
            get => _starting;
            set => _starting = value;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm} started: {Vmm} pid {Pid}, virtiofsd pid {VirtiofsdPid}")]
    private static partial void LogStarted(ILogger logger, string vm, string vmm, int pid, int virtiofsdPid);

    [LoggerMessage(Level = LogLevel.Information, Message = "VM {Vm} exited ({Reason}, status {Status}); {Revoked} session grants revoked")]
    private static partial void LogExited(ILogger logger, string vm, string reason, int status, int revoked);

    [LoggerMessage(Level = LogLevel.Warning, Message = "VM {Vm} was running when the broker stopped: {Killed} orphaned processes killed, {Revoked} session grants revoked")]
    private static partial void LogRecovered(ILogger logger, string vm, int killed, int revoked);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stopping VM {Vm} failed")]
    private static partial void LogStopFailed(ILogger logger, string vm, Exception e);
}

/// <summary>One run of a VM: its supervised processes and, once it is over, how it ended.</summary>
internal sealed class VmRun(SupervisedVm vm, Policy.VmmKind vmm)
{
    private readonly TaskCompletionSource<(string Reason, int Revoked)> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SupervisedVm Vm { get; } = vm;

    public Policy.VmmKind Vmm { get; } = vmm;

    private volatile bool _stopRequested;
    private volatile string? _lastExit;

    /// <summary>Set before a requested stop, so that a kill after the timeout is not taken for a crash.</summary>
    public bool StopRequested
    {
        get => _stopRequested;
        set => _stopRequested = value;
    }

    /// <summary>How it ended, once it has.</summary>
    public string? LastExit
    {
        get => _lastExit;
        set => _lastExit = value;
    }

    /// <summary>Completes after the processes are gone and the session grants have ended.</summary>
    public Task<(string Reason, int Revoked)> Ended => _ended.Task;

    public void SetEnded(string reason, int revoked) => _ended.TrySetResult((reason, revoked));
}
