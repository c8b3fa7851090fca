namespace Spectrum.VmLauncher.CloudHypervisor;

/// <summary>Why a Cloud Hypervisor API call failed.</summary>
public enum CloudHypervisorFailure
{
    /// <summary>Nothing accepted a connection on the API socket (after the connection retries).</summary>
    Unreachable,

    /// <summary>The call did not complete in time; for vm.create/vm.boot its effect is unknown.</summary>
    Timeout,

    /// <summary>The connection broke or the response was not HTTP/1.1 the client could read.</summary>
    ConnectionLost,

    /// <summary>404 from vm.info, vm.boot, vm.shutdown or vm.add-fs: no VM was created.</summary>
    VmNotCreated,

    /// <summary>405 from vm.shutdown: the VM was created but never booted.</summary>
    VmNotBooted,

    /// <summary>400: Cloud Hypervisor refused the request body (the configuration is not valid).</summary>
    InvalidConfig,

    /// <summary>500: Cloud Hypervisor accepted the request but the action failed inside the VMM.</summary>
    VmmError,

    /// <summary>A status the schema does not list for this operation.</summary>
    UndocumentedStatus,

    /// <summary>A documented success whose body does not match the schema.</summary>
    MalformedResponse,
}

/// <summary>
/// A Cloud Hypervisor API call failed. The message is one line naming the operation, the cause
/// and the fix; Cloud Hypervisor's own error text, when it sent one, is appended.
/// </summary>
public sealed class CloudHypervisorApiException : Exception
{
    public CloudHypervisorApiException()
    {
    }

    public CloudHypervisorApiException(string message)
        : base(message)
    {
    }

    public CloudHypervisorApiException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal CloudHypervisorApiException(string operation, CloudHypervisorFailure failure, int? statusCode, string message, Exception? inner = null)
        : base(message, inner)
    {
        Operation = operation;
        Failure = failure;
        StatusCode = statusCode;
    }

    /// <summary>The API operation, e.g. <c>vm.create</c>.</summary>
    public string Operation { get; } = "";

    /// <summary>The typed cause.</summary>
    public CloudHypervisorFailure Failure { get; }

    /// <summary>The HTTP status, when a response arrived.</summary>
    public int? StatusCode { get; }
}

/// <summary>The outcome of <c>PUT /vm.add-fs</c>: the three answers that are not errors.</summary>
public abstract record AddFsResult
{
    private AddFsResult()
    {
    }

    /// <summary>200: the device was hot-plugged into the running guest at <paramref name="Device"/>.</summary>
    public sealed record HotPlugged(PciDeviceInfo Device) : AddFsResult;

    /// <summary>204: the VM is created but not booted; the device is added to its configuration and appears at boot.</summary>
    public sealed record ColdAdded : AddFsResult;

    /// <summary>409: a device with the same identifier already exists; nothing changed.</summary>
    public sealed record Duplicate(string Detail) : AddFsResult;
}
