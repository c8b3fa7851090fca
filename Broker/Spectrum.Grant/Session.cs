using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Spectrum.Broker.Contracts;

namespace Spectrum.Grant;

/// <summary>One command's run: the global options resolved, the output mode, the broker connection.</summary>
internal sealed class Session(CliContext context, bool json, string? socketOption) : IDisposable
{
    /// <summary>Where the broker is looked for, in order: --socket, SPECTRUM_SOCKET, the system socket.</summary>
    public const string SocketEnv = "SPECTRUM_SOCKET";

    private BrokerClient? _client;

    public CliContext Context { get; } = context;

    public bool Json { get; } = json;

    public TextWriter Out => Context.Stdout;

    public DateTimeOffset Now => Context.Time.GetUtcNow();

    /// <summary>
    /// The socket to use: <c>--socket</c>, else <c>SPECTRUM_SOCKET</c>, else the system socket. There is
    /// deliberately no guessing beyond that (such as a checkout's <c>.state/run/broker.sock</c>): an
    /// admin tool must not silently talk to a different broker than the one meant; the unreachable
    /// message says how to point it at another socket.
    /// </summary>
    public string SocketPath =>
        !string.IsNullOrEmpty(socketOption) ? socketOption
        : Context.Env.TryGetValue(SocketEnv, out var fromEnv) && !string.IsNullOrEmpty(fromEnv) ? fromEnv
        : BrokerClient.DefaultSocket;

    public BrokerClient Broker => _client ??= new BrokerClient(SocketPath, Context.BrokerTimeout);

    public Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken ct) =>
        Broker.SendAsync(HttpMethod.Get, path, type, ct);

    public Task<T> PostAsync<TRequest, T>(string path, TRequest body, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<T> type, CancellationToken ct) =>
        Broker.SendAsync(HttpMethod.Post, path, body, requestType, type, ct);

    /// <summary>Writes exactly the DTO, as the stable <c>--json</c> contract.</summary>
    public void WriteJson<T>(T value, JsonTypeInfo<T> type) => Out.WriteLine(JsonSerializer.Serialize(value, type));

    /// <summary>Builds <c>path?k=v&amp;…</c>, escaping values and skipping nulls.</summary>
    public static string Query(string path, params (string Key, string? Value)[] parameters)
    {
        var builder = new System.Text.StringBuilder(path);
        var separator = '?';
        foreach (var (key, value) in parameters)
        {
            if (value is null)
            {
                continue;
            }

            builder.Append(separator).Append(key).Append('=').Append(Uri.EscapeDataString(value));
            separator = '&';
        }

        return builder.ToString();
    }

    public void Dispose() => _client?.Dispose();
}
