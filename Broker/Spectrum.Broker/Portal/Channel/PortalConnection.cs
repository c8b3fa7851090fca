using System.Buffers;
using System.Threading.Channels;
using Spectrum.Broker.Portal.Wire;

namespace Spectrum.Broker.Portal.Channel;

/// <summary>
/// One connection of one VM's channel: reads newline-delimited JSON-RPC, answers each request on
/// the same connection, and runs dialog requests concurrently so that a <c>Close</c> can arrive
/// while a dialog is open. Whatever the guest sends costs bounded memory and time: lines are cut
/// at <see cref="PortalLimits.MaxLineBytes"/>, a line must be finished within
/// <see cref="LineTimeout"/>, replies the guest does not read are bounded by
/// <see cref="PortalLimits.MaxOutboundBytes"/>, and a VM's pending requests and rate by its
/// <see cref="PortalVm"/>. Nothing here waits on another VM's connection.
/// </summary>
internal sealed partial class PortalConnection(PortalService portal, PortalVm vm, Stream stream, ILogger logger)
{
    /// <summary>How long a started line may take to finish: a guest trickling bytes is closed, not waited for.</summary>
    public static readonly TimeSpan LineTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Bytes read from the stream at once.</summary>
    private const int ReadChunk = 4096;

    private readonly Channel<(byte[] Line, FileChooserService.Timings? Timings)> _outbound = System.Threading.Channels.Channel.CreateUnbounded<(byte[], FileChooserService.Timings?)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<JsonRpcId, CancellationTokenSource> _pending = [];
    private readonly List<Task> _requests = [];
    private readonly CancellationTokenSource _closed = new();
    private long _outboundBytes;

    /// <summary>Serves the connection until the guest closes it, breaks the rules, or <paramref name="stop"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        using var link = stop.Register(() => _closed.Cancel());
        var writer = WriteAsync();
        var buffer = ArrayPool<byte>.Shared.Rent(ReadChunk);
        var framer = new LineFramer();
        try
        {
            while (!_closed.IsCancellationRequested)
            {
                int n;
                using (var read = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token))
                {
                    if (framer.Buffered > 0)
                    {
                        read.CancelAfter(LineTimeout);
                    }

                    try
                    {
                        n = await stream.ReadAsync(buffer.AsMemory(0, ReadChunk), read.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!_closed.IsCancellationRequested)
                    {
                        LogClosed(logger, vm.Vm, $"a line was not finished within {LineTimeout.TotalSeconds:0} s");
                        break;
                    }
                }

                if (n == 0)
                {
                    break;
                }

                Feed(framer, buffer.AsSpan(0, n));
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await CloseAsync(writer).ConfigureAwait(false);
        }
    }

    private void Feed(LineFramer framer, ReadOnlySpan<byte> chunk)
    {
        var input = chunk;
        while (framer.Read(ref input, out var line) is var status and not LineStatus.NeedMoreData)
        {
            if (status == LineStatus.TooLong)
            {
                Send(PortalWire.Error(PortalWire.LineTooLongError));
                continue;
            }

            Handle(line);
        }
    }

    private void Handle(ReadOnlySpan<byte> line)
    {
        var message = PortalWire.Parse(line);
        if (message is PortalWireError error)
        {
            Send(PortalWire.Error(error));
            return;
        }

        var id = message is ChooserRequest r ? r.Id : ((CloseRequest)message).Id;
        if (!vm.TakeRate())
        {
            Send(PortalWire.Error(id, PortalErrorCode.RateLimited, $"VM {vm.Vm} sends more than {PortalLimits.RequestsPerSecond} requests per second; wait and retry"));
            return;
        }

        if (message is CloseRequest close)
        {
            CancellationTokenSource? target;
            lock (_pending)
            {
                _pending.TryGetValue(close.Target, out target);
            }

            if (target is null)
            {
                Send(PortalWire.Error(id, PortalErrorCode.NoSuchRequest, "no pending request has that id; Close takes the id of an unanswered OpenFile, SaveFile or SaveFiles"));
                return;
            }

            target.Cancel();
            Send(PortalWire.CloseResult(id));
            return;
        }

        var request = (ChooserRequest)message;
        lock (_pending)
        {
            if (_pending.ContainsKey(id))
            {
                Send(PortalWire.Error(id, PortalErrorCode.InvalidRequest, "a request with this id is still pending; give each request its own id"));
                return;
            }

            if (!vm.TryAddPending())
            {
                Send(PortalWire.Error(id, PortalErrorCode.TooManyPending, $"VM {vm.Vm} already has {PortalLimits.MaxPendingPerVm} dialogs open; wait for one to be answered or Close it"));
                return;
            }

            var cancel = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token);
            _pending.Add(id, cancel);
            _requests.RemoveAll(t => t.IsCompleted);
            var timings = portal.Observe is null ? null : new FileChooserService.Timings { Received = vm.Time.GetTimestamp() };
            _requests.Add(AnswerAsync(id, request.Method, request.Options, cancel, timings));
        }
    }

    private async Task AnswerAsync(JsonRpcId id, FileChooserMethod method, FileChooserOptions options, CancellationTokenSource close, FileChooserService.Timings? timings)
    {
        try
        {
            // Off the reading loop: the loop goes on reading (a Close may come) while the user decides.
            await Task.Yield();
            var result = await portal.Chooser.HandleAsync(vm.Vm, method, options, close.Token, timings).ConfigureAwait(false);
            Send(PortalWire.Result(id, result), timings);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogRequestFailed(logger, vm.Vm, method, e);
            Send(PortalWire.Result(id, FileChooserResult.Failed));
        }
        finally
        {
            lock (_pending)
            {
                _pending.Remove(id);
            }

            vm.RemovePending();
            close.Dispose();
        }
    }

    /// <summary>Queues a reply; a guest that leaves too much unread is closed, so it cannot make the broker hold its replies.</summary>
    private void Send(byte[] line, FileChooserService.Timings? timings = null)
    {
        if (Interlocked.Add(ref _outboundBytes, line.Length) > PortalLimits.MaxOutboundBytes)
        {
            if (!_closed.IsCancellationRequested)
            {
                LogClosed(logger, vm.Vm, $"more than {PortalLimits.MaxOutboundBytes} bytes of replies were left unread");
                _closed.Cancel();
            }

            return;
        }

        _outbound.Writer.TryWrite((line, timings));
    }

    private async Task WriteAsync()
    {
        try
        {
            await foreach (var (line, timings) in _outbound.Reader.ReadAllAsync(_closed.Token).ConfigureAwait(false))
            {
                await stream.WriteAsync(line, _closed.Token).ConfigureAwait(false);
                Interlocked.Add(ref _outboundBytes, -line.Length);
                if (timings is not null)
                {
                    timings.Written = vm.Time.GetTimestamp();
                    portal.Observe?.Invoke(timings);
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _closed.Cancel();
        }
    }

    private async Task CloseAsync(Task writer)
    {
        Task[] requests;
        lock (_pending)
        {
            requests = [.. _requests];
        }

        // Unanswered dialogs: the guest is gone, so they are closed; their answers are dropped.
        await _closed.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(requests).ConfigureAwait(false);
        _outbound.Writer.TryComplete();
        await writer.ConfigureAwait(false);
        _closed.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "portal: VM {Vm} connection closed: {Reason}")]
    private static partial void LogClosed(ILogger logger, string vm, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "portal: VM {Vm} {Method} failed inside the broker; answered response 2")]
    private static partial void LogRequestFailed(ILogger logger, string vm, FileChooserMethod method, Exception e);
}
