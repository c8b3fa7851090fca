using System.ComponentModel;
using System.Net.Sockets;
using Spectrum.Interop;

namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>Options of <see cref="CloudHypervisorBackend"/>.</summary>
public sealed record CloudHypervisorBackendOptions
{
    /// <summary>The executable, looked up on PATH unless it contains a slash (default <c>cloud-hypervisor</c>).</summary>
    public string Executable { get; init; } = "cloud-hypervisor";

    /// <summary>Arguments added after <c>--api-socket fd=3</c> (e.g. <c>-v</c>, <c>--seccomp</c> settings).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>Retries and timeouts of the API calls.</summary>
    public CloudHypervisorClientOptions Client { get; init; } = new();

    /// <summary>The whole start, from spawn to the guest running (default 30 s).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>A guest run by Cloud Hypervisor: the process and the client of its API socket.</summary>
public sealed class CloudHypervisorVm : RunningVm
{
    internal CloudHypervisorVm(VmSpec spec, SpawnedProcess process, CloudHypervisorClient client, DateTimeOffset startedAt)
        : base(spec, process.Pid, startedAt)
    {
        Process = process;
        Client = client;
    }

    /// <summary>The API (vm.info, vm.add-fs…) of this guest's VMM.</summary>
    public CloudHypervisorClient Client { get; }

    internal SpawnedProcess Process { get; }

    internal bool Killed { get; set; }
}

/// <summary>
/// Runs guests under Cloud Hypervisor (production). The broker binds the API socket
/// (<c>vmm.sock</c>) itself and the VMM inherits it as <c>--api-socket fd=3</c>: the socket exists
/// and accepts connections before the VMM has started, so no client ever races its creation, and a
/// stale or foreign file at that path is detected here rather than by a VMM that fails to bind.
/// Then <c>vm.create</c> with the <see cref="VmConfig"/>, <c>vm.boot</c>, and <c>vm.info</c> to
/// confirm the state. Stop: <c>vm.shutdown</c>, <c>vmm.shutdown</c>, then SIGKILL after the grace period.
/// </summary>
public sealed class CloudHypervisorBackend : IVmmBackend
{
    /// <summary>The descriptor number the API socket has in the VMM.</summary>
    public const int ApiSocketFd = 3;

    private const uint S_IFMT = 0xF000;
    private const uint S_IFSOCK = 0xC000;

    private readonly CloudHypervisorBackendOptions options;
    private readonly TimeProvider time;

    public CloudHypervisorBackend(CloudHypervisorBackendOptions? options = null, TimeProvider? timeProvider = null)
    {
        this.options = options ?? new CloudHypervisorBackendOptions();
        ArgumentException.ThrowIfNullOrEmpty(this.options.Executable);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(this.options.StartTimeout, TimeSpan.Zero);
        time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc/>
    public VmmKind Kind => VmmKind.CloudHypervisor;

    /// <summary>The command line the VMM is started with (after the executable).</summary>
    public IReadOnlyList<string> Arguments => ["--api-socket", $"fd={ApiSocketFd}", .. options.ExtraArguments];

    /// <inheritdoc/>
    public async Task<RunningVm> StartAsync(VmSpec spec, string virtiofsdSocket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrEmpty(virtiofsdSocket);

        VmConfig config;
        try
        {
            config = CloudHypervisorConfig.Build(spec, virtiofsdSocket);
            KernelImage.Check(spec);
        }
        catch (CloudHypervisorConfigException e)
        {
            throw new VmLaunchException(e.Message, e);
        }

        Directory.CreateDirectory(spec.RuntimeDirectory);
        var apiSocket = CloudHypervisorLayout.ApiSocket(spec);
        SpawnedProcess process;
        using (var listener = BindApiSocket(spec, apiSocket))
        {
            try
            {
                process = SpawnedProcess.Start(options.Executable, Arguments, listener, ApiSocketFd, CloudHypervisorLayout.VmmLog(spec));
            }
            catch (Win32Exception e)
            {
                RemoveSockets(spec);
                var fix = e.NativeErrorCode == 2 /* ENOENT */
                    ? $"install Cloud Hypervisor or put '{options.Executable}' on PATH, or run the VM with vmm = \"qemu\""
                    : "check the executable's permissions";
                throw new VmLaunchException($"VM '{spec.Name}': cannot start {options.Executable} ({e.Message}); {fix}.", e);
            }

            // The listener is closed here on purpose: the VMM holds the only copy, so once it
            // exits, connecting fails at once (ECONNREFUSED) instead of queueing forever.
        }

        var client = new CloudHypervisorClient(apiSocket, options.Client, time);
        var vm = new CloudHypervisorVm(spec, process, client, time.GetUtcNow());
        var watcher = WatchExitAsync(vm);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(options.StartTimeout);
        var boot = BootAsync(vm, config, deadline.Token);
        var first = await Task.WhenAny(boot, vm.Process.Exited).ConfigureAwait(false);
        if (first == boot && boot.IsCompletedSuccessfully)
        {
            return vm;
        }

        // Failed start: leave nothing running, then report the first cause.
        vm.Process.TrySignal(SpawnNative.SIGKILL);
        await watcher.ConfigureAwait(false);
        await boot.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        client.Dispose();

        if (first != boot)
        {
            var code = await vm.Process.Exited.ConfigureAwait(false);
            throw new VmLaunchException(
                $"VM '{spec.Name}': {options.Executable} exited with status {code} during start; see {CloudHypervisorLayout.VmmLog(spec)}.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        throw boot.Exception?.InnerException switch
        {
            CloudHypervisorApiException api => new VmLaunchException($"VM '{spec.Name}': {api.Message}", api),
            OperationCanceledException => new VmLaunchException(
                $"VM '{spec.Name}': Cloud Hypervisor did not boot the guest within {options.StartTimeout.TotalSeconds:0.#} s; see {CloudHypervisorLayout.VmmLog(spec)}."),
            { } other => new VmLaunchException($"VM '{spec.Name}': start failed: {other.Message}", other),
            null => new VmLaunchException($"VM '{spec.Name}': start was cancelled."),
        };
    }

    /// <inheritdoc/>
    public async Task StopAsync(RunningVm vm, TimeSpan graceful, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(vm);
        if (vm is not CloudHypervisorVm ch)
        {
            throw new ArgumentException($"VM '{vm.Spec.Name}' was not started by the Cloud Hypervisor backend.", nameof(vm));
        }

        if (vm.Exited.IsCompleted)
        {
            return;
        }

        if (!vm.MarkStopRequested())
        {
            // Someone else is stopping it; their stop ends with the exit.
            await vm.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        using (var grace = new CancellationTokenSource(graceful, time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(grace.Token, cancellationToken))
        {
            try
            {
                await ShutdownAsync(ch, linked.Token).ConfigureAwait(false);
                await vm.Exited.WaitAsync(linked.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The grace period is over: fall through to SIGKILL.
            }
        }

        ch.Killed = true;
        ch.Process.TrySignal(SpawnNative.SIGKILL);
        await vm.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task ShutdownAsync(CloudHypervisorVm vm, CancellationToken cancellationToken)
    {
        try
        {
            await vm.Client.ShutdownVmAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CloudHypervisorApiException e) when (e.Failure is CloudHypervisorFailure.VmNotCreated or CloudHypervisorFailure.VmNotBooted)
        {
            // Nothing to shut down inside; the VMM itself still has to go.
        }
        catch (CloudHypervisorApiException) when (vm.Exited.IsCompleted || vm.Process.Exited.IsCompleted)
        {
            return;
        }

        try
        {
            await vm.Client.ShutdownVmmAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (CloudHypervisorApiException e) when (e.Failure is CloudHypervisorFailure.ConnectionLost or CloudHypervisorFailure.Unreachable)
        {
            // The VMM may exit before its 204 is written: the exit is what the caller waits for.
        }
    }

    private static async Task BootAsync(CloudHypervisorVm vm, VmConfig config, CancellationToken cancellationToken)
    {
        // vmm.ping is idempotent and retried: it absorbs the VMM's start-up time. vm.create and
        // vm.boot then go out exactly once each.
        await vm.Client.PingAsync(cancellationToken).ConfigureAwait(false);
        await vm.Client.CreateVmAsync(config, cancellationToken).ConfigureAwait(false);
        await vm.Client.BootVmAsync(cancellationToken).ConfigureAwait(false);
        var info = await vm.Client.GetVmInfoAsync(cancellationToken).ConfigureAwait(false);
        if (info.State != VmInfoState.Running)
        {
            throw new CloudHypervisorApiException("vm.info", CloudHypervisorFailure.MalformedResponse, 200,
                $"Cloud Hypervisor vm.info: the VM is {info.State} right after vm.boot, not Running; see {CloudHypervisorLayout.VmmLog(vm.Spec)}");
        }
    }

    private async Task WatchExitAsync(CloudHypervisorVm vm)
    {
        var code = await vm.Process.Exited.ConfigureAwait(false);
        RemoveSockets(vm.Spec);
        vm.Client.Dispose();
        var reason = vm.StopRequested
            ? vm.Killed ? VmExitReason.Killed : VmExitReason.Stopped
            : code == 0 ? VmExitReason.GuestPoweredOff : VmExitReason.Crashed;
        vm.TrySetExited(new VmExit(reason, code, time.GetUtcNow()));
    }

    private static UnixListener BindApiSocket(VmSpec spec, string path)
    {
        RemoveStaleSocket(spec, path);
        try
        {
            return UnixListener.Bind(path, backlog: 16);
        }
        catch (Win32Exception e)
        {
            throw new VmLaunchException($"VM '{spec.Name}': cannot bind the API socket {path} ({e.Message}); check the runtime directory's permissions.", e);
        }
    }

    // A leftover socket from a crashed run is removed; a live one (another VMM still serving it) or
    // any other kind of file is not ours to delete.
    private static void RemoveStaleSocket(VmSpec spec, string path)
    {
        FileStat stat;
        try
        {
            stat = Files.Stat(path);
        }
        catch (SysCallException e) when (e.Errno == Errno.ENOENT)
        {
            return;
        }

        if ((stat.Mode & S_IFMT) != S_IFSOCK)
        {
            throw new VmLaunchException($"VM '{spec.Name}': {path} exists and is not a socket; remove it or fix the runtime directory.");
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new VmLaunchException($"VM '{spec.Name}': {path} is served by a running VMM; stop that VM first.");
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Nobody listens: stale.
            }
        }

        File.Delete(path);
    }

    // vmm.sock is the broker's; portal.sock is created by the VMM for hybrid vsock. portal.sock_219
    // (the broker's portal listener) is left to its owner.
    private static void RemoveSockets(VmSpec spec)
    {
        foreach (var path in new[] { CloudHypervisorLayout.ApiSocket(spec), CloudHypervisorLayout.PortalSocket(spec) })
        {
            try
            {
                if (File.Exists(path))
                {
                    File.Delete(path);
                }
            }
            catch (IOException)
            {
                // Best effort: the next start removes it as stale.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
