using Spectrum.Policy;

namespace Spectrum.Broker.Portal.Dialog;

/// <summary>Chooses the host's file dialog from broker.toml's <c>[portal]</c> table.</summary>
public static class HostDialogs
{
    /// <summary>
    /// The configured command when <c>[portal] command</c> is set, else the portal backend
    /// <c>[portal] backend</c> on the bus <c>[portal] bus</c> (or <c>DBUS_SESSION_BUS_ADDRESS</c>).
    /// Nothing is contacted here: a missing bus or program is reported by the first
    /// <see cref="IFileDialog.ShowAsync"/>, so a broker on a host without a desktop still starts.
    /// The caller owns the result and disposes it when it is <see cref="IDisposable"/>.
    /// </summary>
    public static IFileDialog Create(BrokerPolicy policy, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.PortalCommand.Count > 0
            ? new CommandFileDialog(policy.PortalCommand, logger)
            : new DbusFileDialog(policy.PortalBus, policy.PortalBackend, logger);
    }
}
