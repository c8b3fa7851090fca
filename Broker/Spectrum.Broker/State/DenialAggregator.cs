namespace Spectrum.Broker.State;

/// <summary>
/// Turns floods of refusals into a bounded number of <c>deny</c> records, each chained into the
/// audit log like any other (so <c>audit verify</c> is unaffected). Two sources:
/// <list type="bullet">
/// <item>the views' data path: counted per (VM, operation, scope) per interval and written at the
/// end of the interval as one record with the count and one sample name; at most
/// <see cref="AuditLimits.MaxDenialKeysPerInterval"/> keys are held, further refusals count into
/// one overflow record per VM;</item>
/// <item>refused control API calls: per uid, the first refusal of an interval is written at once
/// (with what was asked), the rest are counted and written as one record at the end of the
/// interval; at most <see cref="AuditLimits.MaxRefusedUidsPerInterval"/> uids are tracked, further
/// refusals count into one overflow record.</item>
/// </list>
/// </summary>
internal sealed partial class DenialAggregator : IDisposable
{
    private readonly BrokerStore _store;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Vm, string Op, string Scope), ViewEntry> _view = [];
    private readonly Dictionary<string, long> _viewOverflow = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, ApiEntry> _api = [];
    private readonly ITimer _timer;
    private long _apiOverflow;

    public DenialAggregator(BrokerStore store, TimeProvider time, TimeSpan interval, ILogger logger)
    {
        _store = store;
        _logger = logger;
        _timer = time.CreateTimer(_ => Flush(), null, interval, interval);
    }

    private sealed class ViewEntry(string sample)
    {
        public long Count = 1;
        public readonly string Sample = sample;
    }

    private sealed class ApiEntry
    {
        public long Suppressed;
        public string? Last;
    }

    /// <summary>
    /// One refused data-path operation. A key already held costs a lookup and an increment (no
    /// allocation unless the scope is longer than <see cref="AuditLimits.MaxPathBytes"/>); the
    /// sample is escaped only for the first refusal of a key in an interval.
    /// </summary>
    public void Denied(string vm, string op, string scope, ReadOnlySpan<byte> sample)
    {
        var key = (vm, op, AuditLimits.Cap(scope, AuditLimits.MaxPathBytes)!);
        lock (_lock)
        {
            if (_view.TryGetValue(key, out var entry))
            {
                entry.Count++;
            }
            else if (_view.Count < AuditLimits.MaxDenialKeysPerInterval)
            {
                _view[key] = new ViewEntry(AuditLimits.Sample(sample));
            }
            else
            {
                _viewOverflow[vm] = _viewOverflow.GetValueOrDefault(vm) + 1;
            }
        }
    }

    /// <summary>
    /// A refused control API call from <paramref name="uid"/>: the first of the interval is
    /// written now (in its own transaction, before the caller answers), the rest are counted.
    /// </summary>
    public void ApiRefused(uint uid, string detail)
    {
        lock (_lock)
        {
            if (_api.TryGetValue(uid, out var entry))
            {
                entry.Suppressed++;
                entry.Last = detail;
                return;
            }

            if (_api.Count >= AuditLimits.MaxRefusedUidsPerInterval)
            {
                _apiOverflow++;
                return;
            }

            _api[uid] = new ApiEntry();
        }

        _store.Write(tx => tx.Audit(Actor(uid), AuditActions.Deny, "refused", detail: detail));
    }

    /// <summary>Writes what was counted in the interval that ends now, in one transaction.</summary>
    public void Flush()
    {
        List<KeyValuePair<(string Vm, string Op, string Scope), ViewEntry>> view;
        List<KeyValuePair<string, long>> viewOverflow;
        List<KeyValuePair<uint, ApiEntry>> api;
        long apiOverflow;
        lock (_lock)
        {
            if (_view.Count == 0 && _api.Count == 0 && _apiOverflow == 0)
            {
                return;
            }

            view = [.. _view.OrderBy(d => d.Key.Vm, StringComparer.Ordinal).ThenBy(d => d.Key.Scope, StringComparer.Ordinal).ThenBy(d => d.Key.Op, StringComparer.Ordinal)];
            viewOverflow = [.. _viewOverflow.OrderBy(d => d.Key, StringComparer.Ordinal)];
            api = [.. _api.Where(a => a.Value.Suppressed > 0).OrderBy(a => a.Key)];
            apiOverflow = _apiOverflow;
            _view.Clear();
            _viewOverflow.Clear();
            _api.Clear();
            _apiOverflow = 0;
        }

        if (view.Count == 0 && viewOverflow.Count == 0 && api.Count == 0 && apiOverflow == 0)
        {
            return;
        }

        try
        {
            _store.Write(tx =>
            {
                foreach (var ((vm, op, scope), entry) in view)
                {
                    var sample = entry.Sample.Length == 0 ? "" : $", e.g. '{entry.Sample}'";
                    tx.Audit($"vm:{vm}", AuditActions.Deny, "refused", vm, scope, detail: $"{op} refused {Times(entry.Count)} in the view{sample}");
                }

                foreach (var (vm, count) in viewOverflow)
                {
                    tx.Audit($"vm:{vm}", AuditActions.Deny, "refused", vm, detail: $"refused {Times(count)} in the view for more (operation, scope) pairs than the {AuditLimits.MaxDenialKeysPerInterval} recorded one by one per interval");
                }

                foreach (var (uid, entry) in api)
                {
                    tx.Audit(Actor(uid), AuditActions.Deny, "refused", detail: $"admin API refused {Times(entry.Suppressed)} more for uid {uid} in the interval after its first refusal; the last: {entry.Last}");
                }

                if (apiOverflow > 0)
                {
                    tx.Audit("broker", AuditActions.Deny, "refused", detail: $"admin API refused {Times(apiOverflow)} for uids beyond the {AuditLimits.MaxRefusedUidsPerInterval} recorded one by one per interval");
                }

                return 0;
            });
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or ObjectDisposedException or InvalidOperationException)
        {
            LogDenialsLost(_logger, view.Count + viewOverflow.Count + api.Count, e);
        }
    }

    private static string Actor(uint uid) => $"uid:{uid}";

    private static string Times(long count) => count == 1 ? "1 time" : $"{count} times";

    /// <summary>Stops the interval timer and writes what it counted.</summary>
    public void Dispose()
    {
        _timer.Dispose();
        Flush();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not record {Count} aggregated denials")]
    private static partial void LogDenialsLost(ILogger logger, int count, Exception e);
}
