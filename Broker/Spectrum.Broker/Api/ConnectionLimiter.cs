using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Spectrum.Broker.Hosting;

namespace Spectrum.Broker.Api;

/// <summary>
/// A Kestrel connection middleware on the control socket: caps the connections one uid holds open
/// (<see cref="FdBudget.MaxConnectionsPerUid"/>, root <see cref="FdBudget.MaxConnectionsRoot"/>),
/// so that a local user opening thousands of connections to the 0666 socket cannot exhaust the
/// broker's file descriptors (issue 14, item 2: ~16k connections did). A connection over the cap
/// is closed at once, before any byte of HTTP is read; the uid is the one SO_PEERCRED recorded at
/// connect time. The total is capped by Kestrel's MaxConcurrentConnections.
/// </summary>
internal sealed partial class ConnectionLimiter(ILogger logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, int> _open = [];

    /// <summary>How many connections <paramref name="uid"/> holds now (for tests and diagnostics).</summary>
    public int OpenBy(uint uid)
    {
        lock (_lock)
        {
            return _open.GetValueOrDefault(uid);
        }
    }

    /// <summary>The middleware, for <c>ListenOptions.Use</c>.</summary>
    public ConnectionDelegate Wrap(ConnectionDelegate next) => async connection =>
    {
        var peer = PeerCredentials.Of(connection.Features.Get<IConnectionSocketFeature>()?.Socket);
        if (peer is not { } p)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var cap = p.Uid == 0 ? FdBudget.MaxConnectionsRoot : FdBudget.MaxConnectionsPerUid;
        lock (_lock)
        {
            var open = _open.GetValueOrDefault(p.Uid);
            if (open >= cap)
            {
                LogRefused(logger, p.Uid, p.Pid, cap);
                connection.Abort(new ConnectionAbortedException($"uid {p.Uid} already holds {cap} connections to the control socket"));
                return;
            }

            _open[p.Uid] = open + 1;
        }

        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            lock (_lock)
            {
                var left = _open[p.Uid] - 1;
                if (left == 0)
                {
                    _open.Remove(p.Uid);
                }
                else
                {
                    _open[p.Uid] = left;
                }
            }
        }
    };

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closed a control connection of uid {Uid} (pid {Pid}): it already holds {Cap} connections")]
    private static partial void LogRefused(ILogger logger, uint uid, int pid, int cap);
}
