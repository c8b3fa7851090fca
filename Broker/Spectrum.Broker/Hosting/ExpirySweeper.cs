
namespace Spectrum.Broker.Hosting;

/// <summary>
/// Ends expired grants and audits each as <c>expire</c>. Wakes at the next expiry or after the
/// sweep interval, whichever is sooner, on the injected <see cref="TimeProvider"/> (a fake clock in tests).
/// Lookups already treat a grant past its expiry as ended, so the sweep only makes it durable.
/// </summary>
public sealed partial class ExpirySweeper(BrokerServices services, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var expired = services.Grants.ExpireDue();
                if (expired > 0)
                {
                    LogExpired(services.Logger, expired);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogSweepFailed(services.Logger, e);
            }

            var wait = services.Options.ExpirySweep;
            var next = services.NextExpiryMs();
            if (next is { } at)
            {
                var until = TimeSpan.FromMilliseconds(Math.Max(0, at - services.Store.NowMs) + 1);
                wait = until < wait ? until : wait;
            }

            try
            {
                // A new grant with an earlier expiry wakes the sweeper to recompute its wait.
                await Task.WhenAny(Task.Delay(wait, time, stoppingToken), services.ExpiryChanged).ConfigureAwait(false);
                stoppingToken.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Expired {Count} grants")]
    private static partial void LogExpired(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Expiry sweep failed; retrying at the next interval")]
    private static partial void LogSweepFailed(ILogger logger, Exception e);
}
