using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>Timeouts and retry limits of <see cref="CloudHypervisorClient"/>; the defaults suit a local VMM.</summary>
public sealed record CloudHypervisorClientOptions
{
    /// <summary>Connection attempts after the first (default 20): covers a VMM that is still starting.</summary>
    public int MaxRetryAttempts { get; init; } = 20;

    /// <summary>First retry delay, doubled each time up to <see cref="MaxRetryDelay"/> (default 20 ms).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Ceiling of the retry delay (default 500 ms).</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>One attempt of an idempotent call (vm.info, vmm.ping) before it is retried (default 5 s).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A whole call, retries included (default 30 s). vm.create/vm.boot are never re-sent after it.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest response body read (default 1 MiB; vm.info is a few KiB).</summary>
    public int MaxResponseBytes { get; init; } = 1 << 20;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetryAttempts);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetryDelay, RetryDelay);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(AttemptTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CallTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxResponseBytes, 1024);
    }
}

/// <summary>
/// Cloud Hypervisor's REST API (<c>/api/v1</c>) over its Unix socket, one HTTP/1.1 connection per
/// call. Every status the schema lists for an operation is handled explicitly; anything else is a
/// <see cref="CloudHypervisorFailure.UndocumentedStatus"/>.
/// <para>
/// Retries: a connection that could not be established is always retried (the request never
/// left, and the VMM may still be starting); idempotent reads (vm.info, vmm.ping) are also retried
/// after a broken connection or an attempt timeout. vm.create, vm.boot and the shutdowns are never
/// re-sent once their bytes may have reached the VMM: a second vm.create would fail with "VM already
/// created" and hide the first call's real outcome.
/// </para>
/// </summary>
public sealed class CloudHypervisorClient : IDisposable
{
    private readonly HttpClient http;
    private readonly ResiliencePipeline connectOnly;
    private readonly ResiliencePipeline idempotent;

    /// <summary>Creates a client for the API socket at <paramref name="apiSocketPath"/>.</summary>
    public CloudHypervisorClient(string apiSocketPath, CloudHypervisorClientOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(apiSocketPath);
        options ??= new CloudHypervisorClientOptions();
        options.Validate();
        SocketPath = Path.GetFullPath(apiSocketPath);
        timeProvider ??= TimeProvider.System;

        var socketPath = SocketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },

            // No pooled connections: SocketsHttpHandler silently re-sends a request whose reused
            // connection turns out to be closed, which must never happen to vm.create or vm.boot.
            PooledConnectionLifetime = TimeSpan.Zero,
            UseProxy = false,
            AllowAutoRedirect = false,
        };
        http = new HttpClient(handler)
        {
            BaseAddress = new Uri("http://localhost/api/v1/"),
            Timeout = Timeout.InfiniteTimeSpan, // the pipelines own every timeout
            MaxResponseContentBufferSize = options.MaxResponseBytes,
        };

        RetryStrategyOptions Retry(Func<Exception, bool> retryable) => new()
        {
            MaxRetryAttempts = Math.Max(1, options.MaxRetryAttempts),
            Delay = options.RetryDelay,
            MaxDelay = options.MaxRetryDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = false,
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && retryable(e)),
        };
        var noRetries = options.MaxRetryAttempts == 0;

        connectOnly = Build(timeProvider, options, noRetries, Retry(IsConnectFailure), attemptTimeout: null);
        idempotent = Build(timeProvider, options, noRetries,
            Retry(e => e is HttpRequestException or IOException or TimeoutRejectedException), options.AttemptTimeout);
    }

    /// <summary>The API socket.</summary>
    public string SocketPath { get; }

    /// <summary><c>GET /vmm.ping</c>: 200 with the VMM's version. Retried.</summary>
    public async Task<VmmPingResponse> PingAsync(CancellationToken cancellationToken = default)
    {
        var (status, body) = await SendAsync(Operations.Ping, null, cancellationToken).ConfigureAwait(false);
        return status switch
        {
            200 => Parse(Operations.Ping, body, CloudHypervisorJsonContext.Default.VmmPingResponse),
            _ => throw Unexpected(Operations.Ping, status, body),
        };
    }

    /// <summary><c>PUT /vm.create</c>: 204 created. Only a refused connection is retried.</summary>
    public async Task CreateVmAsync(VmConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var json = JsonSerializer.SerializeToUtf8Bytes(config, CloudHypervisorJsonContext.Default.VmConfig);
        var (status, body) = await SendAsync(Operations.Create, json, cancellationToken).ConfigureAwait(false);
        if (status != 204)
        {
            throw Unexpected(Operations.Create, status, body);
        }
    }

    /// <summary><c>PUT /vm.boot</c>: 204 booted, 404 not created. Only a refused connection is retried.</summary>
    public async Task BootVmAsync(CancellationToken cancellationToken = default)
    {
        var (status, body) = await SendAsync(Operations.Boot, null, cancellationToken).ConfigureAwait(false);
        switch (status)
        {
            case 204:
                return;
            case 404:
                throw Fail(Operations.Boot, CloudHypervisorFailure.VmNotCreated, status, body, "the VM is not created; send vm.create first");
            default:
                throw Unexpected(Operations.Boot, status, body);
        }
    }

    /// <summary><c>GET /vm.info</c>: 200 with the state, 404 not created. Retried.</summary>
    public async Task<VmInfo> GetVmInfoAsync(CancellationToken cancellationToken = default)
    {
        var (status, body) = await SendAsync(Operations.Info, null, cancellationToken).ConfigureAwait(false);
        return status switch
        {
            200 => Parse(Operations.Info, body, CloudHypervisorJsonContext.Default.VmInfo),
            404 => throw Fail(Operations.Info, CloudHypervisorFailure.VmNotCreated, status, body, "the VM is not created; send vm.create first"),
            _ => throw Unexpected(Operations.Info, status, body),
        };
    }

    /// <summary><c>PUT /vm.shutdown</c>: 204 shut down, 404 not created, 405 not booted.</summary>
    public async Task ShutdownVmAsync(CancellationToken cancellationToken = default)
    {
        var (status, body) = await SendAsync(Operations.ShutdownVm, null, cancellationToken).ConfigureAwait(false);
        switch (status)
        {
            case 204:
                return;
            case 404:
                throw Fail(Operations.ShutdownVm, CloudHypervisorFailure.VmNotCreated, status, body, "there is no VM to shut down; stop the VMM with vmm.shutdown");
            case 405:
                throw Fail(Operations.ShutdownVm, CloudHypervisorFailure.VmNotBooted, status, body, "the VM was created but not booted; stop the VMM with vmm.shutdown");
            default:
                throw Unexpected(Operations.ShutdownVm, status, body);
        }
    }

    /// <summary><c>PUT /vmm.shutdown</c>: 204, after which the VMM process exits.</summary>
    public async Task ShutdownVmmAsync(CancellationToken cancellationToken = default)
    {
        var (status, body) = await SendAsync(Operations.ShutdownVmm, null, cancellationToken).ConfigureAwait(false);
        if (status != 204)
        {
            throw Unexpected(Operations.ShutdownVmm, status, body);
        }
    }

    /// <summary>
    /// <c>PUT /vm.add-fs</c>: 200 hot-plugged (with the PCI address), 204 cold-added to a VM that is
    /// not booted yet, 409 duplicate: three distinct results. 400, 404 and 500 throw.
    /// </summary>
    public async Task<AddFsResult> AddFsAsync(FsConfig fs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fs);
        CloudHypervisorConfig.ValidateTag(fs.Tag);
        var json = JsonSerializer.SerializeToUtf8Bytes(fs, CloudHypervisorJsonContext.Default.FsConfig);
        var (status, body) = await SendAsync(Operations.AddFs, json, cancellationToken).ConfigureAwait(false);
        return status switch
        {
            200 => new AddFsResult.HotPlugged(Parse(Operations.AddFs, body, CloudHypervisorJsonContext.Default.PciDeviceInfo)),
            204 => new AddFsResult.ColdAdded(),
            409 => new AddFsResult.Duplicate(OneLine(body)),
            400 => throw Fail(Operations.AddFs, CloudHypervisorFailure.InvalidConfig, status, body, $"the virtio-fs configuration (tag '{fs.Tag}', socket {fs.Socket}) is not valid; fix it and retry"),
            404 => throw Fail(Operations.AddFs, CloudHypervisorFailure.VmNotCreated, status, body, "the VM is not created; send vm.create first"),
            500 => throw Fail(Operations.AddFs, CloudHypervisorFailure.VmmError, status, body, $"the device could not be added; check that virtiofsd listens on {fs.Socket} and memory.shared is true"),
            _ => throw Unexpected(Operations.AddFs, status, body),
        };
    }

    /// <inheritdoc/>
    public void Dispose() => http.Dispose();

    private static ResiliencePipeline Build(TimeProvider time, CloudHypervisorClientOptions options, bool noRetries, RetryStrategyOptions retry, TimeSpan? attemptTimeout)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time }.AddTimeout(options.CallTimeout);
        if (!noRetries)
        {
            builder.AddRetry(retry);
        }

        if (attemptTimeout is { } perAttempt)
        {
            builder.AddTimeout(perAttempt);
        }

        return builder.Build();
    }

    // A failure to connect means no byte of the request reached the VMM: safe to retry anything.
    internal static bool IsConnectFailure(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }
        || (e is HttpRequestException { InnerException: SocketException s } && s.SocketErrorCode
            is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.TryAgain);

    private async Task<(int Status, string Body)> SendAsync(Operation op, byte[]? json, CancellationToken cancellationToken)
    {
        var pipeline = op.Idempotent ? idempotent : connectOnly;
        try
        {
            return await pipeline.ExecuteAsync(
                async token =>
                {
                    using var request = new HttpRequestMessage(op.Method, op.Path);
                    request.Headers.ConnectionClose = true;
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                    if (json is not null)
                    {
                        // A sized body, never chunked: Cloud Hypervisor's HTTP server needs Content-Length.
                        request.Content = new ByteArrayContent(json);
                        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    }
                    else if (!op.Idempotent)
                    {
                        // SocketsHttpHandler re-sends a request without content (up to 3 times) when
                        // the connection closes before the status line, even on a fresh connection;
                        // sending content, even empty (Content-Length: 0), turns that off. Observed
                        // with vm.boot against the test server: 4 boots for one call without this.
                        request.Content = new ByteArrayContent([]);
                    }

                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, token).ConfigureAwait(false);
                    var body = await response.Content.ReadAsStringAsync(token).ConfigureAwait(false);
                    return ((int)response.StatusCode, body);
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException e)
        {
            var effect = op.Idempotent ? "" : "; its effect is unknown, so it was not re-sent: check vm.info";
            throw new CloudHypervisorApiException(op.Name, CloudHypervisorFailure.Timeout, null,
                $"Cloud Hypervisor {op.Name}: no answer on {SocketPath} within {e.Timeout.TotalSeconds:0.###} s{effect}", e);
        }
        catch (HttpRequestException e) when (IsConnectFailure(e))
        {
            throw new CloudHypervisorApiException(op.Name, CloudHypervisorFailure.Unreachable, null,
                $"Cloud Hypervisor {op.Name}: nothing accepts connections on {SocketPath} ({Cause(e)}); check that cloud-hypervisor is running with --api-socket on it", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            var effect = op.Idempotent ? "" : "; it was not re-sent because its effect is unknown: check vm.info";
            throw new CloudHypervisorApiException(op.Name, CloudHypervisorFailure.ConnectionLost, null,
                $"Cloud Hypervisor {op.Name}: the connection on {SocketPath} broke before an answer ({Cause(e)}){effect}", e);
        }
    }

    private static string Cause(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException s)
            {
                return s.SocketErrorCode.ToString();
            }
        }

        return OneLine(e.Message);
    }

    private static T Parse<T>(Operation op, string body, JsonTypeInfo<T> type)
    {
        try
        {
            return JsonSerializer.Deserialize(body, type)
                ?? throw new JsonException("the body is JSON null");
        }
        catch (JsonException e)
        {
            throw new CloudHypervisorApiException(op.Name, CloudHypervisorFailure.MalformedResponse, 200,
                $"Cloud Hypervisor {op.Name}: the response body is not a valid {typeof(T).Name} ({OneLine(e.Message)}); check the Cloud Hypervisor version against the API schema", e);
        }
    }

    private static CloudHypervisorApiException Fail(Operation op, CloudHypervisorFailure failure, int status, string body, string causeAndFix) =>
        new(op.Name, failure, status, $"Cloud Hypervisor {op.Name} ({status}): {causeAndFix}{Detail(body)}");

    // Statuses outside the schema. 400 and 500 are what Cloud Hypervisor's HTTP layer answers for an
    // unparsable body and for a failed action on every endpoint, documented or not, so they keep their
    // meaning; anything else is reported as undocumented.
    private static CloudHypervisorApiException Unexpected(Operation op, int status, string body) => status switch
    {
        400 => Fail(op, CloudHypervisorFailure.InvalidConfig, status, body, "the request was refused as invalid; fix the configuration (it must validate against the API schema)"),
        500 => Fail(op, CloudHypervisorFailure.VmmError, status, body, "the action failed inside the VMM; see vmm.log and the detail"),
        _ => Fail(op, CloudHypervisorFailure.UndocumentedStatus, status, body,
            $"status {status} ({(HttpStatusCode)status}) is not in the API schema for {op.Name}; check the Cloud Hypervisor version"),
    };

    private static string Detail(string body) => string.IsNullOrWhiteSpace(body) ? "" : ": " + OneLine(body);

    private static string OneLine(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, 300));
        foreach (var c in text)
        {
            if (builder.Length == 300)
            {
                builder.Append('…');
                break;
            }

            builder.Append(char.IsControl(c) ? ' ' : c);
        }

        return builder.ToString().Trim();
    }

    private sealed record Operation(string Name, HttpMethod Method, bool Idempotent)
    {
        public Uri Path { get; } = new(Name, UriKind.Relative);
    }

    private static class Operations
    {
        public static readonly Operation Ping = new("vmm.ping", HttpMethod.Get, Idempotent: true);
        public static readonly Operation ShutdownVmm = new("vmm.shutdown", HttpMethod.Put, Idempotent: false);
        public static readonly Operation Info = new("vm.info", HttpMethod.Get, Idempotent: true);
        public static readonly Operation Create = new("vm.create", HttpMethod.Put, Idempotent: false);
        public static readonly Operation Boot = new("vm.boot", HttpMethod.Put, Idempotent: false);
        public static readonly Operation ShutdownVm = new("vm.shutdown", HttpMethod.Put, Idempotent: false);
        public static readonly Operation AddFs = new("vm.add-fs", HttpMethod.Put, Idempotent: false);
    }
}
