using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Spectrum.VmLauncher.Qemu;

/// <summary>
/// The least of QMP (QEMU Machine Protocol) the backend needs: greeting, <c>qmp_capabilities</c>,
/// then one command at a time. Asynchronous events between replies are skipped.
/// </summary>
internal sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket socket;
    private readonly NetworkStream stream;
    private readonly StreamReader reader;

    private QmpClient(Socket socket)
    {
        this.socket = socket;
        stream = new NetworkStream(socket, ownsSocket: true);
        reader = new StreamReader(stream, Encoding.UTF8);
    }

    /// <summary>Connects, reads the greeting and leaves capabilities negotiation mode.</summary>
    /// <remarks>
    /// QEMU binds the socket a moment before it listens, so a refused connection is retried
    /// (every 10 ms) until <paramref name="cancellationToken"/> ends the wait.
    /// </remarks>
    public static async Task<QmpClient> ConnectAsync(string path, CancellationToken cancellationToken)
    {
        Socket socket;
        while (true)
        {
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused && !cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        var client = new QmpClient(socket);
        try
        {
            using var greeting = await client.ReadMessageAsync(cancellationToken).ConfigureAwait(false);
            if (!greeting.RootElement.TryGetProperty("QMP", out _))
            {
                throw new IOException("QMP greeting missing");
            }

            (await client.ExecuteAsync("qmp_capabilities", cancellationToken).ConfigureAwait(false)).Dispose();
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="command"/> and returns the reply's document (<c>return</c> member inside).</summary>
    /// <exception cref="IOException">QEMU answered with an error or closed the connection.</exception>
    public async Task<JsonDocument> ExecuteAsync(string command, CancellationToken cancellationToken)
    {
        var request = Encoding.UTF8.GetBytes($"{{\"execute\":\"{command}\"}}\n");
        await stream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        while (true)
        {
            var reply = await ReadMessageAsync(cancellationToken).ConfigureAwait(false);
            var root = reply.RootElement;
            if (root.TryGetProperty("return", out _))
            {
                return reply;
            }

            if (root.TryGetProperty("error", out var error))
            {
                var text = error.GetRawText();
                reply.Dispose();
                throw new IOException($"QMP {command}: {text}");
            }

            reply.Dispose(); // an event
        }
    }

    public async ValueTask DisposeAsync()
    {
        reader.Dispose();
        await stream.DisposeAsync().ConfigureAwait(false);
        socket.Dispose();
    }

    private async Task<JsonDocument> ReadMessageAsync(CancellationToken cancellationToken)
    {
        var line = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new IOException("QMP connection closed");
        return JsonDocument.Parse(line);
    }
}
