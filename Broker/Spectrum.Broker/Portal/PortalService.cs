using System.Collections.Concurrent;
using Spectrum.Broker.Hosting;
using Spectrum.Broker.Portal.Channel;

namespace Spectrum.Broker.Portal;

/// <summary>
/// The portal's channels: one endpoint per running VM, attached when the VM starts and detached
/// when it ends. Detaching closes the VM's connections and every host dialog it still has open.
/// </summary>
internal sealed partial class PortalService(BrokerServices services, IFileDialog dialog) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, PortalVm> _vms = new(StringComparer.Ordinal);

    /// <summary>Turns a request into a dialog, grants and an answer.</summary>
    public FileChooserService Chooser { get; } = new(services, dialog);

    /// <summary>
    /// When set, each answered dialog request's broker-side timestamps (received, dialog called,
    /// dialog answered, granted, reply written) are handed here: the portal benchmark's probe.
    /// </summary>
    internal Action<FileChooserService.Timings>? Observe { get; set; }

    /// <summary>Starts serving <paramref name="vm"/>'s channel on <paramref name="endpoint"/>; a previous one is detached first.</summary>
    public async Task AttachAsync(string vm, PortalEndpoint endpoint)
    {
        await DetachAsync(vm).ConfigureAwait(false);
        var state = new PortalVm(vm, services.Time);
        if (!_vms.TryAdd(vm, state))
        {
            state.Dispose();
            throw new InvalidOperationException($"the portal of VM {vm} was attached twice at once");
        }

        state.Run = Task.Run(() => RunAsync(state, endpoint));
    }

    /// <summary>Stops <paramref name="vm"/>'s channel: its connections close and its open dialogs are closed.</summary>
    public async Task DetachAsync(string vm)
    {
        if (!_vms.TryRemove(vm, out var state))
        {
            return;
        }

        await state.CancelAsync().ConfigureAwait(false);
        await state.Run.ConfigureAwait(false);
        state.Dispose();
    }

    /// <summary>The VMs whose channel is attached (for tests and status).</summary>
    public IReadOnlyCollection<string> Attached => _vms.Keys.ToArray();

    private async Task RunAsync(PortalVm state, PortalEndpoint endpoint)
    {
        LogAttached(services.Logger, state.Vm, endpoint.Describe);
        try
        {
            await endpoint.RunAsync((stream, stop) => new PortalConnection(this, state, stream, services.Logger).RunAsync(stop), state.Stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (state.Stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            LogEndpointFailed(services.Logger, state.Vm, endpoint.Describe, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var vm in _vms.Keys.ToArray())
        {
            await DetachAsync(vm).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "portal: VM {Vm} channel on {Endpoint}")]
    private static partial void LogAttached(ILogger logger, string vm, string endpoint);

    [LoggerMessage(Level = LogLevel.Error, Message = "portal: VM {Vm} channel on {Endpoint} failed: {Reason}; the VM's portal requests are not served until it restarts")]
    private static partial void LogEndpointFailed(ILogger logger, string vm, string endpoint, string reason);
}

/// <summary>What one VM's connections share: its stop signal, its request rate and its pending count.</summary>
internal sealed class PortalVm(string vm, TimeProvider time) : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private Wire.TokenBucket _bucket = Wire.TokenBucket.ForPortal(time);
    private int _pending;

    public string Vm { get; } = vm;

    public TimeProvider Time { get; } = time;

    public Task Run { get; set; } = Task.CompletedTask;

    /// <summary>Cancelled when the VM's channel is detached.</summary>
    public CancellationToken Stopping => _stop.Token;

    /// <summary>One request's worth of the VM's rate; false when it is sending faster than allowed.</summary>
    public bool TakeRate()
    {
        lock (_lock)
        {
            return _bucket.TryTake(Time.GetTimestamp());
        }
    }

    /// <summary>Counts a dialog request in; false when the VM already has as many open as allowed.</summary>
    public bool TryAddPending()
    {
        if (Interlocked.Increment(ref _pending) <= Wire.PortalLimits.MaxPendingPerVm)
        {
            return true;
        }

        Interlocked.Decrement(ref _pending);
        return false;
    }

    public void RemovePending() => Interlocked.Decrement(ref _pending);

    public Task CancelAsync() => _stop.CancelAsync();

    public void Dispose() => _stop.Dispose();
}
