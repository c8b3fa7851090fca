using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Spectrum.Broker.Contracts;

namespace Spectrum.Vm.Tests;

/// <summary>Canned contract values for the fake broker, as the daemon would send them.</summary>
internal static class VmFixtures
{
    public static readonly DateTimeOffset Now = new(2026, 11, 25, 9, 0, 0, TimeSpan.Zero);

    /// <summary>A bootable VM that runs, started 3m5s ago.</summary>
    public static readonly VmDto Running = new()
    {
        Name = "editor",
        Declared = true,
        PolicyFile = "vms/editor.toml",
        Grants = 2,
        Bootable = true,
        Vmm = "qemu",
        State = VmStates.Running,
        Pid = 1234,
        VirtiofsdPid = 1230,
        StartedAt = Now.AddSeconds(-185),
        UptimeSeconds = 185.4,
    };

    /// <summary>The same VM stopped, as the broker reports it after a stop.</summary>
    public static readonly VmDto Stopped = Running with
    {
        State = VmStates.Stopped, Pid = null, VirtiofsdPid = null, StartedAt = null, UptimeSeconds = null, LastExit = VmExitReasons.Stopped,
    };

    /// <summary>A VM only named by a grant: no <c>[vm]</c> table, so no VMM.</summary>
    public static readonly VmDto NotBootable = new() { Name = "mail", Declared = false, Grants = 0 };

    public static readonly GrantDto SessionGrant = new()
    {
        Id = "g_00000000000000b2",
        Vm = "editor",
        Path = "Documents/report.odt",
        Kind = "file",
        Rights = "ro",
        Persistence = "session",
        Source = "cli",
        SourceDetail = "uid:1000",
        CreatedAt = Now,
        State = "active",
    };

    public static string Json<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    public static string NotFound(string vm) =>
        Json(new ErrorDto { Code = "not_found", Message = $"no VM '{vm}' in the policies; declare it in policies/vms/{vm}.toml" }, BrokerJson.Default.ErrorDto);
}
