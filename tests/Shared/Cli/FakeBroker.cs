using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace Spectrum.Tests.Shared;

// Shared by the CLI test projects (linked into each by its csproj).

/// <summary>
/// A canned-answer HTTP/1.1 server on a Unix socket, for testing how the CLI renders answers and
/// maps statuses before the real daemon runs in tests; one request per connection.
/// End-to-end tests against the real broker replace it where they can.
/// </summary>
public sealed class FakeBroker : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spectrum-cli-fake-").FullName;
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly ConcurrentDictionary<string, (int Status, string Body, TimeSpan Delay)> _routes = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public FakeBroker()
    {
        SocketPath = Path.Combine(_dir, "broker.sock");
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(16);
        _loop = Task.Run(AcceptLoopAsync);
    }

    public string SocketPath { get; }

    /// <summary>Requests received: "METHOD /path?query" and the body.</summary>
    public ConcurrentQueue<(string Request, string Body)> Requests { get; } = new();

    /// <summary>
    /// Answers <paramref name="method"/> <paramref name="pathAndQuery"/> (exact match, or the path
    /// alone) with a status and JSON body, after <paramref name="delay"/> (a slow broker: a VM boot).
    /// </summary>
    public FakeBroker On(string method, string pathAndQuery, int status, string body, TimeSpan? delay = null)
    {
        _routes[$"{method} {pathAndQuery}"] = (status, body, delay ?? TimeSpan.Zero);
        return this;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOf(buffer, "\r\n\r\n"u8.ToArray())) < 0)
        {
            var n = await stream.ReadAsync(chunk);
            if (n == 0)
            {
                return;
            }

            buffer.AddRange(chunk.AsSpan(0, n).ToArray());
        }

        var head = Encoding.ASCII.GetString(buffer.GetRange(0, headerEnd).ToArray()).Split("\r\n");
        var requestLine = head[0].Split(' ');
        var length = head.Skip(1)
            .Select(h => h.Split(':', 2))
            .Where(h => h[0].Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(h => int.Parse(h[1].Trim(), System.Globalization.CultureInfo.InvariantCulture))
            .FirstOrDefault();
        // JsonContent has no length up front, so request bodies arrive chunked.
        var chunked = head.Any(h => h.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) && h.Contains("chunked", StringComparison.OrdinalIgnoreCase));
        while (chunked ? IndexOf(buffer, "0\r\n\r\n"u8.ToArray()) < 0 : buffer.Count < headerEnd + 4 + length)
        {
            var n = await stream.ReadAsync(chunk);
            if (n == 0)
            {
                break;
            }

            buffer.AddRange(chunk.AsSpan(0, n).ToArray());
        }

        var raw = Encoding.UTF8.GetString(buffer.Skip(headerEnd + 4).ToArray());
        var body = chunked ? Dechunk(raw) : raw;
        var key = $"{requestLine[0]} {requestLine[1]}";
        Requests.Enqueue((key, body));
        if (!_routes.TryGetValue(key, out var answer) && !_routes.TryGetValue($"{requestLine[0]} {requestLine[1].Split('?')[0]}", out answer))
        {
            answer = (404, """{"code":"not_found","message":"fake broker has no route for this request; add one with On()"}""", TimeSpan.Zero);
        }

        if (answer.Delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(answer.Delay, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var payload = Encoding.UTF8.GetBytes(answer.Body);
        var response = $"HTTP/1.1 {answer.Status} Fake\r\nContent-Type: application/json\r\nContent-Length: {payload.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(response));
        await stream.WriteAsync(payload);
    }

    private static string Dechunk(string raw)
    {
        var result = new StringBuilder();
        var at = 0;
        while (true)
        {
            var eol = raw.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = Convert.ToInt32(raw[at..eol], 16);
            if (size == 0)
            {
                return result.ToString();
            }

            result.Append(raw, eol + 2, size);
            at = eol + 2 + size + 2;
        }
    }

    private static int IndexOf(List<byte> haystack, byte[] needle)
    {
        for (var i = 0; i + needle.Length <= haystack.Count; i++)
        {
            var match = true;
            for (var j = 0; j < needle.Length && match; j++)
            {
                match = haystack[i + j] == needle[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _loop;
        _stop.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
