using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Spectrum.Broker.Contracts;

namespace Spectrum.Cli;

/// <summary>One command's run: the global options resolved, the output mode, the broker connection.</summary>
public sealed class Session : IDisposable
{
    /// <summary>Where the broker is looked for, in order: --socket, SPECTRUM_SOCKET, the system socket.</summary>
    public const string SocketEnv = "SPECTRUM_SOCKET";

    private readonly string? _socketOption;
    private BrokerClient? _client;

    /// <summary>Creates a session; nothing is connected until the first request.</summary>
    public Session(CliContext context, bool json, string? socketOption)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context;
        Json = json;
        _socketOption = socketOption;
        Timeout = context.BrokerTimeout;
    }

    public CliContext Context { get; }

    public bool Json { get; }

    public TextWriter Out => Context.Stdout;

    public DateTimeOffset Now => Context.Time.GetUtcNow();

    /// <summary>How long each request waits for the broker's answer (see <see cref="WaitAtLeast"/>).</summary>
    public TimeSpan Timeout { get; private set; }

    /// <summary>
    /// The socket to use: <c>--socket</c>, else <c>SPECTRUM_SOCKET</c>, else the system socket. There is
    /// deliberately no guessing beyond that (such as a checkout's <c>.state/run/broker.sock</c>): an
    /// admin tool must not silently talk to a different broker than the one meant; the unreachable
    /// message says how to point it at another socket.
    /// </summary>
    public string SocketPath =>
        !string.IsNullOrEmpty(_socketOption) ? _socketOption
        : Context.Env.TryGetValue(SocketEnv, out var fromEnv) && !string.IsNullOrEmpty(fromEnv) ? fromEnv
        : BrokerClient.DefaultSocket;

    public BrokerClient Broker => _client ??= new BrokerClient(SocketPath, Timeout);

    /// <summary>
    /// Raises the answer timeout to at least <paramref name="timeout"/>, for calls the broker answers
    /// only once slow work is done (a VM boot or shutdown). Call it before the first request.
    /// </summary>
    public void WaitAtLeast(TimeSpan timeout)
    {
        if (_client is not null)
        {
            throw new InvalidOperationException("the broker timeout is fixed once the first request was sent");
        }

        if (timeout > Timeout)
        {
            Timeout = timeout;
        }
    }

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
