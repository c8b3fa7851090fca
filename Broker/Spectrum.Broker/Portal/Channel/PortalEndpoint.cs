using System.Net.Sockets;

namespace Spectrum.Broker.Portal.Channel;

/// <summary>
/// Where one VM's portal connections come from. The VM is known by the endpoint, which the
/// broker made for it, never by anything a connection sends. Each connection is a byte stream
/// of newline-delimited JSON-RPC, whatever carries it.
/// </summary>
internal abstract class PortalEndpoint
{
    /// <summary>For logs: the socket path and how it is used.</summary>
    public abstract string Describe { get; }

    /// <summary>Hands every connection to <paramref name="serve"/> until <paramref name="stop"/> is cancelled.</summary>
    public abstract Task RunAsync(Func<Stream, CancellationToken, Task> serve, CancellationToken stop);

    /// <summary>The endpoint for a VM's VMM: QEMU serves a virtio-serial socket, Cloud Hypervisor forwards hybrid vsock to a socket the broker serves.</summary>
    public static PortalEndpoint For(Policy.VmmKind vmm, string socketPath) =>
        vmm == Policy.VmmKind.Qemu ? new SerialPortEndpoint(socketPath) : new VsockListenerEndpoint(socketPath);
}

/// <summary>
/// QEMU: the guest's virtio-serial port <c>org.spectrum.portal</c> is the chardev socket
/// <c>portal.sock</c>, which QEMU listens on (<c>server=on,wait=off</c>); the broker connects
/// and stays connected for the VM's life, reconnecting if the connection drops. One stream, so
/// one connection at a time.
/// </summary>
internal sealed class SerialPortEndpoint(string socketPath) : PortalEndpoint
{
    /// <summary>The longest wait between two connection attempts (the socket appears once QEMU runs).</summary>
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(1);

    public override string Describe => $"{socketPath} (QEMU virtio-serial, connected by the broker)";

    public override async Task RunAsync(Func<Stream, CancellationToken, Task> serve, CancellationToken stop)
    {
        var delay = TimeSpan.FromMilliseconds(20);
        while (!stop.IsCancellationRequested)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), stop).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                socket.Dispose();
                await Task.Delay(delay, stop).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
                continue;
            }

            delay = TimeSpan.FromMilliseconds(20);
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            await serve(stream, stop).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// Cloud Hypervisor: a guest connection to vsock port 219 becomes a connection to the Unix
/// socket <c>portal.sock_219</c>, which the broker listens on (mode 0600, in the VM's 0700
/// folder). Several connections may be open at once, up to <see cref="MaxConnections"/>.
/// </summary>
internal sealed class VsockListenerEndpoint(string socketPath) : PortalEndpoint
{
    /// <summary>Open connections one VM may hold; more are closed at once. Each is served by its own task.</summary>
    public const int MaxConnections = 4;

    public override string Describe => $"{socketPath} (Cloud Hypervisor hybrid vsock, listened on by the broker)";

    public override async Task RunAsync(Func<Stream, CancellationToken, Task> serve, CancellationToken stop)
    {
        File.Delete(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        listener.Listen(MaxConnections);
        var open = 0;
        var running = new List<Task>();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                Socket accepted;
                try
                {
                    accepted = await listener.AcceptAsync(stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                if (Interlocked.Increment(ref open) > MaxConnections)
                {
                    Interlocked.Decrement(ref open);
                    accepted.Dispose();
                    continue;
                }

                running.RemoveAll(t => t.IsCompleted);
                running.Add(ServeOneAsync(accepted));
            }
        }
        finally
        {
            File.Delete(socketPath);
        }

        await Task.WhenAll(running).ConfigureAwait(false);

        async Task ServeOneAsync(Socket socket)
        {
            try
            {
                await using var stream = new NetworkStream(socket, ownsSocket: true);
                await serve(stream, stop).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref open);
            }
        }
    }
}
