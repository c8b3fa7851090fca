using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Spectrum.VmLauncher.Tests.CloudHypervisor;

/// <summary>One request the server received.</summary>
internal sealed record ApiRequest(string Method, string Operation, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>
/// What the server answers. <see cref="Drop"/> closes the connection after reading the request
/// without a byte of answer; <see cref="Delay"/> waits first. <see cref="Undocumented"/> allows a
/// status the schema does not list for the operation (otherwise that is a test bug, recorded).
/// </summary>
internal sealed record ApiResponse(int Status, string? Json = null)
{
    public bool Drop { get; init; }

    public TimeSpan Delay { get; init; }

    public bool Undocumented { get; init; }
}

/// <summary>
/// A minimal HTTP/1.1 server on a Unix socket that plays Cloud Hypervisor's API as the OpenAPI
/// document describes it: every request is checked against the operation's method and request
/// body schema, and every answer against the documented statuses and response schemas. Anything
/// off is recorded in <see cref="Violations"/>, which tests assert empty.
/// </summary>
internal sealed class SchemaHttpServer : IAsyncDisposable
{
    private const string Prefix = "/api/v1/";

    private readonly Socket listener;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private readonly OpenApiSchema api = OpenApiSchema.Instance;

    public SchemaHttpServer(string socketPath, Func<ApiRequest, ApiResponse>? handler = null)
    {
        SocketPath = socketPath;
        Handler = handler ?? DocumentedSuccess;
        listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(16);
        loop = Task.Run(AcceptLoop);
    }

    public string SocketPath { get; }

    public Func<ApiRequest, ApiResponse> Handler { get; set; }

    public ConcurrentQueue<ApiRequest> Requests { get; } = new();

    public ConcurrentQueue<string> Violations { get; } = new();

    public int Count(string operation) => Requests.Count(r => r.Operation == operation);

    /// <summary>The documented success of each operation, with a schema-valid body.</summary>
    public ApiResponse DocumentedSuccess(ApiRequest request) => request.Operation switch
    {
        "vmm.ping" => new(200, """{"version":"v48.0-test","pid":4242,"features":["kvm"]}"""),
        "vm.info" => new(200, $$"""{"config":{{Requests.LastOrDefault(r => r.Operation == "vm.create")?.Body ?? """{"payload":{}}"""}},"state":"Running","memory_actual_size":536870912}"""),
        "vm.add-fs" => new(200, """{"id":"_fs1","bdf":"0000:00:06.0"}"""),
        _ => new(204),
    };

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Dispose();
        try
        {
            await loop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        stop.Dispose();
    }

    private async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => Serve(connection));
        }
    }

    private async Task Serve(Socket connection)
    {
        using var _ = connection;
        using var stream = new NetworkStream(connection);
        var request = await ReadRequest(stream);
        if (request is null)
        {
            return;
        }

        Check(request);
        Requests.Enqueue(request);
        var response = Handler(request);
        if (response.Delay > TimeSpan.Zero)
        {
            await Task.Delay(response.Delay);
        }

        if (response.Drop)
        {
            return;
        }

        CheckResponse(request.Operation, response);
        var body = Encoding.UTF8.GetBytes(response.Json ?? "");
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {response.Status} {Reason(response.Status)}\r\n")
            .Append("Server: Cloud Hypervisor API (test double)\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n")
            .Append(response.Json is null ? "" : "Content-Type: application/json\r\n")
            .Append("Connection: close\r\n\r\n");
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
            await stream.WriteAsync(body);
        }
        catch (IOException)
        {
            // The client gave up (timeout tests).
        }
    }

    private void Check(ApiRequest request)
    {
        string expectedMethod;
        try
        {
            expectedMethod = api.Operation(request.Operation).Method;
        }
        catch (KeyNotFoundException)
        {
            Violations.Enqueue($"{request.Method} /{request.Operation}: not an operation of the schema");
            return;
        }

        if (request.Method != expectedMethod)
        {
            Violations.Enqueue($"{request.Operation}: method {request.Method}, the schema says {expectedMethod}");
        }

        if (request.Headers.TryGetValue("transfer-encoding", out var te))
        {
            Violations.Enqueue($"{request.Operation}: Transfer-Encoding {te}; Cloud Hypervisor needs Content-Length");
        }

        var schema = api.RequestSchema(request.Operation);
        if (schema is null)
        {
            if (request.Body.Length > 0)
            {
                Violations.Enqueue($"{request.Operation}: a body was sent but the schema defines none");
            }

            return;
        }

        if (!request.Headers.TryGetValue("content-type", out var type) || !type.StartsWith("application/json", StringComparison.Ordinal))
        {
            Violations.Enqueue($"{request.Operation}: Content-Type is '{type}', not application/json");
        }

        if (request.Body.Length == 0 && api.RequestBodyRequired(request.Operation))
        {
            Violations.Enqueue($"{request.Operation}: the required body is missing");
            return;
        }

        foreach (var error in api.Validate(request.Body, schema))
        {
            Violations.Enqueue($"{request.Operation} request: {error}");
        }
    }

    private void CheckResponse(string operation, ApiResponse response)
    {
        if (!api.Statuses(operation).Contains(response.Status))
        {
            if (!response.Undocumented)
            {
                Violations.Enqueue($"{operation}: status {response.Status} is not documented (mark the response Undocumented if that is the point)");
            }

            return;
        }

        var schema = api.ResponseSchema(operation, response.Status);
        if (schema is null && response.Json is not null)
        {
            Violations.Enqueue($"{operation} {response.Status}: the schema documents no body");
        }

        if (schema is not null)
        {
            foreach (var error in api.Validate(response.Json ?? "", schema))
            {
                Violations.Enqueue($"{operation} {response.Status} response: {error}");
            }
        }
    }

    private static async Task<ApiRequest?> ReadRequest(NetworkStream stream)
    {
        var buffer = new List<byte>();
        var one = new byte[4096];
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(buffer)) < 0)
        {
            var n = await stream.ReadAsync(one);
            if (n == 0)
            {
                return null;
            }

            buffer.AddRange(one.AsSpan(0, n));
        }

        var head = Encoding.ASCII.GetString(buffer.GetRange(0, headerEnd).ToArray()).Split("\r\n");
        var requestLine = head[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }

        var length = headers.TryGetValue("content-length", out var l) ? int.Parse(l, CultureInfo.InvariantCulture) : 0;
        var body = buffer.Skip(headerEnd + 4).ToList();
        while (body.Count < length)
        {
            var n = await stream.ReadAsync(one);
            if (n == 0)
            {
                break;
            }

            body.AddRange(one.AsSpan(0, n));
        }

        var path = requestLine[1];
        var operation = path.StartsWith(Prefix, StringComparison.Ordinal) ? path[Prefix.Length..] : path;
        return new ApiRequest(requestLine[0], operation, headers, Encoding.UTF8.GetString(body.ToArray()));
    }

    private static int IndexOfHeaderEnd(List<byte> buffer)
    {
        for (var i = 0; i + 3 < buffer.Count; i++)
        {
            if (buffer[i] == '\r' && buffer[i + 1] == '\n' && buffer[i + 2] == '\r' && buffer[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        _ => "Status",
    };
}
