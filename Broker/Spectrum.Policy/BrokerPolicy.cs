namespace Spectrum.Policy;

/// <summary>
/// Host-wide settings from <c>broker.toml</c>. Every key is optional; a missing file means every
/// default. Paths left null are decided by the broker (flag, then environment variable, then its
/// embedded default), so the policy file only pins what the administrator chose to pin.
/// </summary>
public sealed record BrokerPolicy
{
    /// <summary>All defaults: what the broker uses when there is no <c>broker.toml</c>.</summary>
    public static BrokerPolicy Default { get; } = new();

    /// <summary><c>[broker] tree</c>: absolute path of the global tree. Default: null (not pinned).</summary>
    public string? Tree { get; init; }

    /// <summary><c>[broker] state_dir</c>: absolute path of the state folder (database, root key). Default: null.</summary>
    public string? StateDir { get; init; }

    /// <summary><c>[broker] runtime_dir</c>: absolute path of the runtime folder (views, sockets). Default: null.</summary>
    public string? RuntimeDir { get; init; }

    /// <summary><c>[broker] socket</c>: absolute path of the control API socket. Default: null.</summary>
    public string? Socket { get; init; }

    /// <summary><c>[guest] uid</c>: the uid guests see as the owner of their view. Default: 1000.</summary>
    public int GuestUid { get; init; } = 1000;

    /// <summary><c>[guest] gid</c>: the gid guests see as the group of their view. Default: 1000.</summary>
    public int GuestGid { get; init; } = 1000;

    /// <summary>
    /// <c>[audit] deny_interval</c>: data-path denials are aggregated per (VM, path, operation)
    /// over this interval so a flooding guest cannot flood the log. Default: 10s.
    /// </summary>
    public TimeSpan DenyInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary><c>[grants] expiry_sweep</c>: how often expired grants are swept. Default: 30s.</summary>
    public TimeSpan ExpirySweep { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The portal backend asked for the host's file dialog when broker.toml names none.</summary>
    public const string DefaultPortalBackend = "org.freedesktop.impl.portal.desktop.gtk";

    /// <summary>
    /// <c>[portal] bus</c>: the D-Bus address of the session bus that has the host's file dialog
    /// (<c>unix:path=/run/user/1000/bus</c>). Default: null, meaning <c>DBUS_SESSION_BUS_ADDRESS</c>.
    /// </summary>
    public string? PortalBus { get; init; }

    /// <summary>
    /// <c>[portal] backend</c>: the bus name of the <c>org.freedesktop.impl.portal.FileChooser</c>
    /// backend. Default: <see cref="DefaultPortalBackend"/>.
    /// </summary>
    public string PortalBackend { get; init; } = DefaultPortalBackend;

    /// <summary>
    /// <c>[portal] command</c>: a program (absolute path) and its arguments that shows a dialog
    /// and prints the chosen paths, used instead of D-Bus when not empty. Default: empty.
    /// </summary>
    public IReadOnlyList<string> PortalCommand { get; init; } = EquatableList<string>.Empty;

    /// <summary>The file these settings came from, or null when defaults were used.</summary>
    public string? File { get; init; }
}
