namespace Spectrum.VmLauncher;

/// <summary>
/// Starts a VM with its own virtiofsd and ties their lifetimes: virtiofsd starts first (the VMM
/// connects to its socket during start), is torn down when the VM exits for any reason, and if
/// virtiofsd dies first the VM is killed, since a QEMU guest cannot reconnect to a new one.
/// </summary>
public sealed class VmSupervisor
{
    private readonly IVmmBackend backend;
    private readonly string? virtiofsdBinary;

    /// <param name="backend">The VMM backend.</param>
    /// <param name="virtiofsdBinary">The virtiofsd to run; null finds one (<see cref="Virtiofsd.FindBinary"/>).</param>
    public VmSupervisor(IVmmBackend backend, string? virtiofsdBinary = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        this.backend = backend;
        this.virtiofsdBinary = virtiofsdBinary;
    }

    /// <summary>Starts virtiofsd, then the VM. On failure neither is left running.</summary>
    /// <param name="spec">The VM.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <param name="virtiofsdStarted">
    /// Told virtiofsd's pid once it listens and before the VMM starts, so that whoever serves the
    /// shared directory can let exactly that process in before the guest can send anything.
    /// </param>
    /// <exception cref="VmLaunchException">Either could not be started.</exception>
    public async Task<SupervisedVm> StartAsync(VmSpec spec, CancellationToken cancellationToken, Action<int>? virtiofsdStarted = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var virtiofsd = await Virtiofsd.StartAsync(spec, virtiofsdBinary, cancellationToken: cancellationToken).ConfigureAwait(false);
        RunningVm vm;
        try
        {
            virtiofsdStarted?.Invoke(virtiofsd.Pid);
            vm = await backend.StartAsync(spec, virtiofsd.SocketPath, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await virtiofsd.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new SupervisedVm(backend, vm, virtiofsd);
    }
}

/// <summary>A VM and its virtiofsd, started by <see cref="VmSupervisor"/>.</summary>
public sealed class SupervisedVm
{
    private readonly IVmmBackend backend;
    private readonly Virtiofsd virtiofsd;
    private int virtiofsdDied;

    internal SupervisedVm(IVmmBackend backend, RunningVm vm, Virtiofsd virtiofsd)
    {
        this.backend = backend;
        this.virtiofsd = virtiofsd;
        Vm = vm;
        VirtiofsdPid = virtiofsd.Pid;
        VirtiofsdSocket = virtiofsd.SocketPath;
        Exited = SuperviseAsync();
    }

    /// <summary>The VMM's handle.</summary>
    public RunningVm Vm { get; }

    /// <summary>The virtiofsd process id.</summary>
    public int VirtiofsdPid { get; }

    /// <summary>The vhost-user-fs socket (removed once <see cref="Exited"/> completes).</summary>
    public string VirtiofsdSocket { get; }

    /// <summary>True if virtiofsd died while the VM ran (the VM was then killed, and its exit is reported as <see cref="VmExitReason.Killed"/> or <see cref="VmExitReason.Crashed"/>).</summary>
    public bool VirtiofsdDied => Volatile.Read(ref virtiofsdDied) != 0;

    /// <summary>
    /// Completes once the VMM has exited and virtiofsd is gone with its socket: the moment to
    /// revoke the VM's session grants and audit the stop. Never faults.
    /// </summary>
    public Task<VmExit> Exited { get; }

    /// <summary>Stops the VM gracefully, SIGKILL after <paramref name="graceful"/>; completes after cleanup.</summary>
    public async Task<VmExit> StopAsync(TimeSpan graceful, CancellationToken cancellationToken)
    {
        await backend.StopAsync(Vm, graceful, cancellationToken).ConfigureAwait(false);
        return await Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    // QEMU's C virtiofsd exits by itself (status 0) once the VMM closes the vhost-user connection,
    // which can be observed before the VMM's own exit is reaped: such an exit is a death only if
    // the VMM does not follow within this grace. A non-zero status (killed, crashed) always is.
    private static readonly TimeSpan VmmExitGrace = TimeSpan.FromSeconds(1);

    private static async Task<bool> ExitsWithinAsync(Task exited, TimeSpan grace)
    {
        await Task.WhenAny(exited, Task.Delay(grace)).ConfigureAwait(false);
        return exited.IsCompleted;
    }

    private async Task<VmExit> SuperviseAsync()
    {
        var first = await Task.WhenAny(Vm.Exited, virtiofsd.Exited).ConfigureAwait(false);
        if (first != Vm.Exited
            && (await virtiofsd.Exited.ConfigureAwait(false) != 0 || !await ExitsWithinAsync(Vm.Exited, VmmExitGrace).ConfigureAwait(false)))
        {
            Volatile.Write(ref virtiofsdDied, 1);
            try
            {
                // The guest's filesystem is gone; a graceful shutdown would hang on it.
                await backend.StopAsync(Vm, TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // Exited below still completes: the backend's watcher sees the process exit.
            }
        }

        var exit = await Vm.Exited.ConfigureAwait(false);
        await virtiofsd.DisposeAsync().ConfigureAwait(false);

        // QEMU may exit with status 0 by itself when its vhost-user backend goes away; that is
        // still a crash of the VM as a whole, not a guest poweroff.
        return VirtiofsdDied && exit.Reason == VmExitReason.GuestPoweredOff ? exit with { Reason = VmExitReason.Crashed } : exit;
    }
}
