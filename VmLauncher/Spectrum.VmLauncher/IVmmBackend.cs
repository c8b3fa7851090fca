namespace Spectrum.VmLauncher;

/// <summary>
/// A virtual machine monitor that can start and stop one guest. Backends (Cloud Hypervisor, QEMU)
/// know nothing of grants, policies or virtiofsd's lifetime: the caller starts virtiofsd first and
/// hands over its vhost-user socket, and tears it down when <see cref="RunningVm.Exited"/> completes.
/// </summary>
public interface IVmmBackend
{
    /// <summary>Which VMM this backend drives.</summary>
    VmmKind Kind { get; }

    /// <summary>
    /// Starts the guest described by <paramref name="spec"/>, connected to the vhost-user-fs socket
    /// <paramref name="virtiofsdSocket"/> (which must already be listening). Returns once the VMM
    /// process runs and the guest has been told to boot; it does not wait for the guest's userspace.
    /// On failure nothing is left running and the runtime directory's VMM sockets are removed.
    /// </summary>
    /// <exception cref="VmLaunchException">The VMM is missing, refused the configuration, or died during start.</exception>
    Task<RunningVm> StartAsync(VmSpec spec, string virtiofsdSocket, CancellationToken cancellationToken);

    /// <summary>
    /// Asks the guest to power off (ACPI power button, or the VMM's shutdown call), waits up to
    /// <paramref name="graceful"/> for the VMM to exit, then kills it with SIGKILL. Completes once
    /// the process has exited and the backend's sockets are removed. Stopping an exited VM is a no-op.
    /// </summary>
    Task StopAsync(RunningVm vm, TimeSpan graceful, CancellationToken cancellationToken);
}

/// <summary>The lifecycle state of a <see cref="RunningVm"/>.</summary>
public enum VmState
{
    /// <summary>The VMM runs the guest.</summary>
    Running,

    /// <summary>A stop was requested; the VMM has not exited yet.</summary>
    Stopping,

    /// <summary>The VMM process has exited (see <see cref="RunningVm.Exited"/>).</summary>
    Exited,
}

/// <summary>Why a VM's VMM process ended.</summary>
public enum VmExitReason
{
    /// <summary>The guest powered off by itself (VMM exited with status 0, no stop requested).</summary>
    GuestPoweredOff,

    /// <summary><see cref="IVmmBackend.StopAsync"/> stopped it gracefully.</summary>
    Stopped,

    /// <summary><see cref="IVmmBackend.StopAsync"/> had to SIGKILL it after the graceful timeout.</summary>
    Killed,

    /// <summary>The VMM died unexpectedly: non-zero status or a signal nobody here sent.</summary>
    Crashed,
}

/// <summary>How and when a VM's VMM process ended.</summary>
/// <param name="Reason">Why it ended.</param>
/// <param name="ExitCode">The process's exit status as .NET reports it (128 + signal for a signal).</param>
/// <param name="ExitedAt">When the exit was observed.</param>
public sealed record VmExit(VmExitReason Reason, int ExitCode, DateTimeOffset ExitedAt);

/// <summary>
/// A started guest. Backends may derive from it to keep their own handles (process, API client).
/// <see cref="Exited"/> completes exactly once, when the VMM process has exited and the backend has
/// removed its own sockets, whatever the cause (poweroff, stop, kill, crash); it never faults.
/// </summary>
public class RunningVm
{
    private readonly TaskCompletionSource<VmExit> exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int stopRequested;

    /// <summary>Creates the handle for a VMM process the backend has just started.</summary>
    public RunningVm(VmSpec spec, int pid, DateTimeOffset startedAt)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        Pid = pid;
        StartedAt = startedAt;
    }

    /// <summary>The spec it was started from.</summary>
    public VmSpec Spec { get; }

    /// <summary>The VMM process id.</summary>
    public int Pid { get; }

    /// <summary>When the VMM process was started.</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>The current state; <see cref="VmState.Exited"/> once <see cref="Exited"/> has completed.</summary>
    public VmState State => exited.Task.IsCompleted ? VmState.Exited
        : Volatile.Read(ref stopRequested) != 0 ? VmState.Stopping : VmState.Running;

    /// <summary>Completes with the exit once the VMM process has ended and its sockets are gone.</summary>
    public Task<VmExit> Exited => exited.Task;

    /// <summary>True once a stop was requested (used to tell a stop from a crash).</summary>
    public bool StopRequested => Volatile.Read(ref stopRequested) != 0;

    /// <summary>Marks the VM as stopping; returns false if a stop was already requested.</summary>
    public bool MarkStopRequested() => Interlocked.Exchange(ref stopRequested, 1) == 0;

    /// <summary>Backends call this once, after the process has exited and their sockets are removed.</summary>
    public bool TrySetExited(VmExit exit) => exited.TrySetResult(exit);
}

/// <summary>A VM could not be started; the message names the cause and the fix.</summary>
public sealed class VmLaunchException : Exception
{
    public VmLaunchException()
    {
    }

    public VmLaunchException(string message)
        : base(message)
    {
    }

    public VmLaunchException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
