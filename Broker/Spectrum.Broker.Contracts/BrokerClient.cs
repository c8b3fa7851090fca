using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Serialization.Metadata;

namespace Spectrum.Broker.Contracts;

/// <summary>Why a control API call failed; maps onto the CLI's exit codes.</summary>
public enum BrokerFailure
{
    /// <summary>The broker refused (403), or the thing was not found (404) or conflicts (409): exit 1.</summary>
    Refused = 1,

    /// <summary>The request itself was malformed (400): exit 2.</summary>
    BadRequest = 2,

    /// <summary>No broker answered on the socket: exit 3.</summary>
    Unreachable = 3,
}

/// <summary>A failed control API call, with a one-line message that names the cause and the fix.</summary>
public sealed class BrokerClientException(BrokerFailure failure, string message, string? code = null, Exception? inner = null)
    : Exception(message, inner)
{
    public BrokerFailure Failure { get; } = failure;

    /// <summary>The broker's error code (bad_request, forbidden, …), when it answered.</summary>
    public string? Code { get; } = code;
}

/// <summary>HTTP/JSON over the broker's Unix socket.</summary>
public sealed class BrokerClient : IDisposable
{
    /// <summary>Where the broker listens when nothing else is said (DESIGN.md, runtime layout).</summary>
    public const string DefaultSocket = "/run/spectrum/broker.sock";

    private readonly HttpClient _http;

    public BrokerClient(string socketPath, TimeSpan? timeout = null)
    {
        SocketPath = socketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _http = new HttpClient(handler)
        {
            BaseAddress = new Uri("http://broker"),
            Timeout = timeout ?? TimeSpan.FromSeconds(60),
        };
    }

    /// <summary>The socket this client talks to.</summary>
    public string SocketPath { get; }

    /// <summary>Sends a request and decodes the answer, or throws <see cref="BrokerClientException"/>.</summary>
    public async Task<TResponse> SendAsync<TRequest, TResponse>(
        HttpMethod method,
        string path,
        TRequest? body,
        JsonTypeInfo<TRequest> requestType,
        JsonTypeInfo<TResponse> responseType,
        CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, requestType);
        }

        return await SendCoreAsync(request, responseType, ct).ConfigureAwait(false);
    }

    /// <summary>Sends a request without a body.</summary>
    public async Task<TResponse> SendAsync<TResponse>(HttpMethod method, string path, JsonTypeInfo<TResponse> responseType, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(method, path);
        return await SendCoreAsync(request, responseType, ct).ConfigureAwait(false);
    }

    private async Task<TResponse> SendCoreAsync<TResponse>(HttpRequestMessage request, JsonTypeInfo<TResponse> responseType, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or IOException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new BrokerClientException(
                BrokerFailure.Unreachable,
                $"cannot reach the broker at {SocketPath} ({Describe(e)}); start it with `spectrum-broker` (or `make run` in a checkout), or point --socket / SPECTRUM_SOCKET at the socket it listens on",
                inner: e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new BrokerClientException(
                BrokerFailure.Unreachable,
                $"the broker at {SocketPath} did not answer within {_http.Timeout.TotalSeconds:0}s; check `journalctl -u spectrum-broker` or its console",
                inner: e);
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                var value = await response.Content.ReadFromJsonAsync(responseType, ct).ConfigureAwait(false);
                return value ?? throw new BrokerClientException(BrokerFailure.Refused, "the broker sent an empty answer; this is a broker bug, please report it");
            }

            ErrorDto? error = null;
            try
            {
                error = await response.Content.ReadFromJsonAsync(BrokerJson.Default.ErrorDto, ct).ConfigureAwait(false);
            }
            catch (System.Text.Json.JsonException)
            {
                // Not our error shape: report the status line instead.
            }

            var failure = response.StatusCode == HttpStatusCode.BadRequest ? BrokerFailure.BadRequest : BrokerFailure.Refused;
            var message = error?.Message ?? $"the broker answered {(int)response.StatusCode} {response.ReasonPhrase}";
            throw new BrokerClientException(failure, message, error?.Code);
        }
    }

    private static string Describe(HttpRequestException e) =>
        e.InnerException is SocketException se
            ? se.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported => "no such socket",
                SocketError.ConnectionRefused => "connection refused: no broker is listening",
                SocketError.AccessDenied => "permission denied on the socket",
                _ => se.Message,
            }
            : e.Message;

    public void Dispose() => _http.Dispose();
}
