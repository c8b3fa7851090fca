using System.Net.Sockets;
using Spectrum.VmLauncher.CloudHypervisor;

namespace Spectrum.VmLauncher.Tests.CloudHypervisor;

public sealed class CloudHypervisorClientTests : IDisposable
{
    private static readonly CloudHypervisorClientOptions Fast = new()
    {
        MaxRetryAttempts = 30,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        MaxRetryDelay = TimeSpan.FromMilliseconds(50),
        AttemptTimeout = TimeSpan.FromSeconds(5),
        CallTimeout = TimeSpan.FromSeconds(10),
    };

    private readonly TempDir dir = new();

    private string Socket => dir["vmm.sock"];

    public void Dispose() => dir.Dispose();

    private static VmSpec Spec(string runtime) => new()
    {
        Name = "editor",
        Kernel = "/srv/guest/vmlinuz",
        SharedDirectory = runtime + "/view",
        RuntimeDirectory = runtime,
    };

    // Every (operation, documented status) pair of the schema, with what the client makes of it.
    // "ok" is a plain success; other values name the typed result or CloudHypervisorFailure.
    public static TheoryData<string, int, string> Documented => new()
    {
        { "vmm.ping", 200, "ok" },
        { "vmm.shutdown", 204, "ok" },
        { "vm.info", 200, "ok" },
        { "vm.info", 404, nameof(CloudHypervisorFailure.VmNotCreated) },
        { "vm.create", 204, "ok" },
        { "vm.boot", 204, "ok" },
        { "vm.boot", 404, nameof(CloudHypervisorFailure.VmNotCreated) },
        { "vm.shutdown", 204, "ok" },
        { "vm.shutdown", 404, nameof(CloudHypervisorFailure.VmNotCreated) },
        { "vm.shutdown", 405, nameof(CloudHypervisorFailure.VmNotBooted) },
        { "vm.add-fs", 200, nameof(AddFsResult.HotPlugged) },
        { "vm.add-fs", 204, nameof(AddFsResult.ColdAdded) },
        { "vm.add-fs", 400, nameof(CloudHypervisorFailure.InvalidConfig) },
        { "vm.add-fs", 404, nameof(CloudHypervisorFailure.VmNotCreated) },
        { "vm.add-fs", 409, nameof(AddFsResult.Duplicate) },
        { "vm.add-fs", 500, nameof(CloudHypervisorFailure.VmmError) },
    };

    [Fact]
    public void DocumentedTable_CoversEveryStatusTheSchemaListsForTheClientsOperations()
    {
        var api = OpenApiSchema.Instance;
        var expected = new[] { "vmm.ping", "vmm.shutdown", "vm.info", "vm.create", "vm.boot", "vm.shutdown", "vm.add-fs" }
            .SelectMany(op => api.Statuses(op).Select(status => $"{op} {status}")).Order();
        Assert.Equal(expected, Documented.Select(row => $"{row[0]} {row[1]}").Order());
    }

    [Theory]
    [MemberData(nameof(Documented))]
    public async Task EveryDocumentedStatus_HasItsOwnOutcome(string operation, int status, string expected)
    {
        await using var server = new SchemaHttpServer(Socket);
        server.Handler = request => request.Operation == operation
            ? status == 200 ? server.DocumentedSuccess(request) with { Status = 200 } : new ApiResponse(status)
            : server.DocumentedSuccess(request);
        using var client = new CloudHypervisorClient(Socket, Fast);

        var outcome = await Outcome(client, operation);

        Assert.Equal(expected, outcome);
        Assert.Equal(1, server.Count(operation));
        Assert.Empty(server.Violations);
    }

    [Theory]
    [InlineData("vm.create", 400, nameof(CloudHypervisorFailure.InvalidConfig))]
    [InlineData("vm.create", 500, nameof(CloudHypervisorFailure.VmmError))]
    [InlineData("vm.boot", 500, nameof(CloudHypervisorFailure.VmmError))]
    [InlineData("vm.create", 503, nameof(CloudHypervisorFailure.UndocumentedStatus))]
    [InlineData("vm.info", 418, nameof(CloudHypervisorFailure.UndocumentedStatus))]
    public async Task StatusesOutsideTheSchema_AreTypedToo(string operation, int status, string expected)
    {
        await using var server = new SchemaHttpServer(Socket);
        server.Handler = request => request.Operation == operation
            ? new ApiResponse(status, """["Error from the VMM: Cannot create VM", "Invalid kernel"]""") { Undocumented = true }
            : server.DocumentedSuccess(request);
        using var client = new CloudHypervisorClient(Socket, Fast);

        Assert.Equal(expected, await Outcome(client, operation));
        Assert.Equal(1, server.Count(operation));
    }

    [Fact]
    public async Task ErrorMessages_AreOneLine_NameTheCauseAndCarryTheVmmsText()
    {
        await using var server = new SchemaHttpServer(Socket, _ => new ApiResponse(500, "Error from API\ncaused by: Virtio-fs socket missing") { Undocumented = true });
        using var client = new CloudHypervisorClient(Socket, Fast);
        var e = await Assert.ThrowsAsync<CloudHypervisorApiException>(() => client.CreateVmAsync(Config()));
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("Cloud Hypervisor vm.create (500): the action failed inside the VMM", e.Message, StringComparison.Ordinal);
        Assert.Contains("Virtio-fs socket missing", e.Message, StringComparison.Ordinal);
        Assert.Equal(("vm.create", 500), (e.Operation, e.StatusCode));
    }

    [Fact]
    public async Task AddFs_HotPlugged_CarriesThePciAddress()
    {
        await using var server = new SchemaHttpServer(Socket);
        using var client = new CloudHypervisorClient(Socket, Fast);
        var result = await client.AddFsAsync(CloudHypervisorConfig.Fs(Spec(dir.Path)));
        Assert.Equal(new AddFsResult.HotPlugged(new PciDeviceInfo { Id = "_fs1", Bdf = "0000:00:06.0" }), result);
        Assert.Empty(server.Violations);
    }

    [Fact]
    public async Task AddFs_TagOver36Bytes_IsRefusedBeforeAnythingIsSent()
    {
        await using var server = new SchemaHttpServer(Socket);
        using var client = new CloudHypervisorClient(Socket, Fast);
        var fs = CloudHypervisorConfig.Fs(Spec(dir.Path)) with { Tag = new string('x', 37) };
        await Assert.ThrowsAsync<CloudHypervisorConfigException>(() => client.AddFsAsync(fs));
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task RequestBodies_ValidateAgainstTheSchema_AndFollowTheDocumentedMethods()
    {
        await using var server = new SchemaHttpServer(Socket);
        using var client = new CloudHypervisorClient(Socket, Fast);
        await client.PingAsync();
        await client.CreateVmAsync(Config(VmArch.X86_64));
        await client.CreateVmAsync(Config(VmArch.Aarch64));
        await client.BootVmAsync();
        Assert.Equal(VmInfoState.Running, (await client.GetVmInfoAsync()).State);
        await client.AddFsAsync(CloudHypervisorConfig.Fs(Spec(dir.Path)));
        await client.ShutdownVmAsync();
        await client.ShutdownVmmAsync();

        Assert.Equal(8, server.Requests.Count);
        Assert.Empty(server.Violations);
        Assert.All(server.Requests, r => Assert.Equal("close", r.Headers["connection"], ignoreCase: true));
    }

    [Fact]
    public async Task ConnectionRefused_IsRetriedUntilTheVmmListens()
    {
        // A socket file nobody listens on: connect() gets ECONNREFUSED, like a VMM still starting.
        using (var stale = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(Socket));
        }

        using var client = new CloudHypervisorClient(Socket, Fast);
        var ping = client.PingAsync();
        await Task.Delay(300);
        Assert.False(ping.IsCompleted);
        File.Delete(Socket);
        await using var server = new SchemaHttpServer(Socket);

        Assert.Equal("v48.0-test", (await ping).Version);
    }

    [Fact]
    public async Task VmCreate_ConnectionRefused_IsRetried_BecauseNothingWasSent()
    {
        using var client = new CloudHypervisorClient(Socket, Fast);
        var create = client.CreateVmAsync(Config());
        await Task.Delay(200);
        await using var server = new SchemaHttpServer(Socket);

        await create;
        Assert.Equal(1, server.Count("vm.create"));
    }

    [Fact]
    public async Task VmBoot_500_IsNotRetried()
    {
        await using var server = new SchemaHttpServer(Socket, _ => new ApiResponse(500, "\"boot failed\"") { Undocumented = true });
        using var client = new CloudHypervisorClient(Socket, Fast);
        var e = await Assert.ThrowsAsync<CloudHypervisorApiException>(() => client.BootVmAsync());
        Assert.Equal(CloudHypervisorFailure.VmmError, e.Failure);
        Assert.Equal(1, server.Count("vm.boot"));
    }

    [Theory]
    [InlineData("vm.create")]
    [InlineData("vm.boot")]
    [InlineData("vm.shutdown")]
    [InlineData("vmm.shutdown")]
    [InlineData("vm.add-fs")]
    public async Task NonIdempotentCall_ConnectionDroppedAfterTheRequest_IsNotReSent(string operation)
    {
        await using var server = new SchemaHttpServer(Socket, _ => new ApiResponse(204) { Drop = true });
        using var client = new CloudHypervisorClient(Socket, Fast);
        Assert.Equal(nameof(CloudHypervisorFailure.ConnectionLost), await Outcome(client, operation));
        Assert.Equal(1, server.Count(operation));
    }

    [Fact]
    public async Task VmCreate_Timeout_IsNotReSent()
    {
        await using var server = new SchemaHttpServer(Socket, _ => new ApiResponse(204) { Delay = TimeSpan.FromSeconds(2) });
        using var client = new CloudHypervisorClient(Socket, Fast with { CallTimeout = TimeSpan.FromMilliseconds(300) });
        var e = await Assert.ThrowsAsync<CloudHypervisorApiException>(() => client.CreateVmAsync(Config()));
        Assert.Equal(CloudHypervisorFailure.Timeout, e.Failure);
        Assert.Equal(1, server.Count("vm.create"));
    }

    [Theory]
    [InlineData("vm.info")]
    [InlineData("vmm.ping")]
    public async Task IdempotentCall_ConnectionDropped_IsRetried(string operation)
    {
        var dropped = 0;
        await using var server = new SchemaHttpServer(Socket);
        server.Handler = request => Interlocked.Increment(ref dropped) <= 2 ? new ApiResponse(200) { Drop = true } : server.DocumentedSuccess(request);
        using var client = new CloudHypervisorClient(Socket, Fast);
        Assert.Equal("ok", await Outcome(client, operation));
        Assert.Equal(3, server.Count(operation));
    }

    [Fact]
    public async Task IdempotentCall_SlowAttempt_TimesOutAndIsRetried()
    {
        var calls = 0;
        await using var server = new SchemaHttpServer(Socket);
        server.Handler = request => Interlocked.Increment(ref calls) == 1
            ? server.DocumentedSuccess(request) with { Delay = TimeSpan.FromSeconds(3) }
            : server.DocumentedSuccess(request);
        using var client = new CloudHypervisorClient(Socket, Fast with { AttemptTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.Equal(VmInfoState.Running, (await client.GetVmInfoAsync()).State);
        Assert.Equal(2, server.Count("vm.info"));
    }

    [Fact]
    public async Task NobodyListening_AfterTheRetries_IsUnreachableWithTheSocketInTheMessage()
    {
        using var client = new CloudHypervisorClient(Socket, Fast with { MaxRetryAttempts = 2 });
        var e = await Assert.ThrowsAsync<CloudHypervisorApiException>(() => client.PingAsync());
        Assert.Equal(CloudHypervisorFailure.Unreachable, e.Failure);
        Assert.Contains(Socket, e.Message, StringComparison.Ordinal);
        Assert.Contains("--api-socket", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedSuccessBody_IsReportedAsSuch()
    {
        await using var server = new SchemaHttpServer(Socket, _ => new ApiResponse(200, """{"status":"fine"}""") { Undocumented = true });
        using var client = new CloudHypervisorClient(Socket, Fast);
        var e = await Assert.ThrowsAsync<CloudHypervisorApiException>(() => client.GetVmInfoAsync());
        Assert.Equal(CloudHypervisorFailure.MalformedResponse, e.Failure);
    }

    private VmConfig Config(VmArch arch = VmArch.X86_64) => CloudHypervisorConfig.Build(Spec(dir.Path) with { Arch = arch });

    private async Task<string> Outcome(CloudHypervisorClient client, string operation)
    {
        try
        {
            switch (operation)
            {
                case "vmm.ping":
                    await client.PingAsync();
                    return "ok";
                case "vmm.shutdown":
                    await client.ShutdownVmmAsync();
                    return "ok";
                case "vm.info":
                    await client.GetVmInfoAsync();
                    return "ok";
                case "vm.create":
                    await client.CreateVmAsync(Config());
                    return "ok";
                case "vm.boot":
                    await client.BootVmAsync();
                    return "ok";
                case "vm.shutdown":
                    await client.ShutdownVmAsync();
                    return "ok";
                case "vm.add-fs":
                    return (await client.AddFsAsync(CloudHypervisorConfig.Fs(Spec(dir.Path)))).GetType().Name;
                default:
                    throw new ArgumentOutOfRangeException(nameof(operation));
            }
        }
        catch (CloudHypervisorApiException e)
        {
            Assert.DoesNotContain('\n', e.Message);
            return e.Failure.ToString();
        }
    }
}
