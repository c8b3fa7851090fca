namespace Spectrum.Broker.Hosting;

/// <summary>
/// On shutdown (SIGTERM), stops every running guest before the views unmount, so that each VM's
/// session ends and is audited rather than being found as an orphan at the next start.
/// </summary>
internal sealed class VmShutdown(BrokerServices services) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => services.Vms.StopAllAsync(cancellationToken);
}
