using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Spectrum.Broker.State;

/// <summary>
/// The only writer of the database. Every change runs in one <see cref="WriteTransaction"/> that
/// also appends its audit records, so a grant and its audit record commit together or not at all.
/// Writers are serialized by one gate (a desktop's grant rate is tiny; a single writer keeps the
/// audit chain linear); readers use their own pooled connections and never wait for it, thanks to WAL.
/// </summary>
public sealed class BrokerStore : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SqliteConnection _writer;
    private readonly TimeProvider _time;
    private long _highWaterMs;
    private long _lastSeq;
    private byte[] _lastHash;

    static BrokerStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public BrokerStore(BrokerDatabase database, TimeProvider time)
    {
        Database = database;
        _time = time;
        _writer = database.OpenConnection();
        _highWaterMs = _writer.ExecuteScalar<long?>("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'clock_high_water'") ?? 0;
        var head = _writer.QuerySingleOrDefault<(long Seq, byte[] Hash)?>("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
        (_lastSeq, _lastHash) = head is { } h ? (h.Seq, h.Hash) : (0, AuditRecord.GenesisHash);

        // Chain on from the head recorded with the last write, not from the last row left: if records were
        // deleted from the end, new records must keep the gap visible to `audit verify` instead of closing it.
        var recorded = _writer.ExecuteScalar<string?>("SELECT value FROM meta WHERE key = 'audit_head'")?.Split(':');
        if (recorded is [var seqText, var hashText] && long.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out var recordedSeq) && recordedSeq > _lastSeq)
        {
            (_lastSeq, _lastHash) = (recordedSeq, Convert.FromHexString(hashText));
        }
    }

    public BrokerDatabase Database { get; }

    /// <summary>
    /// Raised after a commit that changed grants, with the VMs whose grants changed, on the
    /// committing thread. Views subscribe to recompile their grant tables: a revoke takes effect
    /// right after its transaction is durable, never before.
    /// </summary>
    public event Action<IReadOnlySet<string>>? GrantsChanged;

    /// <summary>
    /// Now, never earlier than any time this store has written: a clock set back does not bring an
    /// expired grant back to life.
    /// </summary>
    public long NowMs => Math.Max(_time.GetUtcNow().ToUnixTimeMilliseconds(), Interlocked.Read(ref _highWaterMs));

    /// <summary>Runs <paramref name="work"/> in one immediate transaction and commits it.</summary>
    public async Task<T> WriteAsync<T>(Func<WriteTransaction, T> work, CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return WriteLocked(work);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Synchronous form for start-up and the expiry timer.</summary>
    public T Write<T>(Func<WriteTransaction, T> work)
    {
        _gate.Wait();
        try
        {
            return WriteLocked(work);
        }
        finally
        {
            _gate.Release();
        }
    }

    private T WriteLocked<T>(Func<WriteTransaction, T> work)
    {
        var now = NowMs;
        using var tx = _writer.BeginTransaction(deferred: false);
        var write = new WriteTransaction(_writer, tx, now, _lastSeq, _lastHash);
        var result = work(write);
        _writer.Execute(
            "INSERT INTO meta (key, value) VALUES ('clock_high_water', @now) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            new { now = now.ToString(CultureInfo.InvariantCulture) },
            tx);
        tx.Commit();
        Interlocked.Exchange(ref _highWaterMs, now);
        (_lastSeq, _lastHash) = (write.LastSeq, write.LastHash);
        if (write.TouchedVms.Count > 0)
        {
            GrantsChanged?.Invoke(write.TouchedVms);
        }

        return result;
    }

    /// <summary>A pooled read connection.</summary>
    public SqliteConnection Read() => Database.OpenConnection();

    public void Dispose()
    {
        _writer.Dispose();
        _gate.Dispose();
    }
}

/// <summary>One write transaction: the connection, the time it runs at, and the audit appender.</summary>
public sealed class WriteTransaction
{
    internal WriteTransaction(SqliteConnection connection, SqliteTransaction transaction, long nowMs, long lastSeq, byte[] lastHash)
    {
        Connection = connection;
        Transaction = transaction;
        NowMs = nowMs;
        LastSeq = lastSeq;
        LastHash = lastHash;
    }

    public SqliteConnection Connection { get; }

    public SqliteTransaction Transaction { get; }

    /// <summary>The time every change in this transaction is stamped with.</summary>
    public long NowMs { get; }

    internal long LastSeq { get; private set; }

    internal byte[] LastHash { get; private set; }

    /// <summary>VMs whose grants this transaction changed (every grant change is audited with its VM).</summary>
    internal HashSet<string> TouchedVms { get; } = new(StringComparer.Ordinal);

    public int Execute(string sql, object? args = null) => Connection.Execute(sql, args, Transaction);

    public IEnumerable<T> Query<T>(string sql, object? args = null) => Connection.Query<T>(sql, args, Transaction);

    public T? QuerySingleOrDefault<T>(string sql, object? args = null) => Connection.QuerySingleOrDefault<T>(sql, args, Transaction);

    public T? Scalar<T>(string sql, object? args = null) => Connection.ExecuteScalar<T>(sql, args, Transaction);

    /// <summary>
    /// Appends one audit record, chained to the one before; <paramref name="path"/> and
    /// <paramref name="detail"/> are cut to <see cref="AuditLimits.MaxPathBytes"/> and
    /// <see cref="AuditLimits.MaxDetailBytes"/>.
    /// </summary>
    public AuditRecord Audit(string actor, string action, string result, string? vm = null, string? path = null, string? rights = null, string? grantId = null, string? detail = null)
    {
        var record = new AuditRecord
        {
            Seq = LastSeq + 1,
            TimeMs = NowMs,
            Actor = actor,
            Vm = vm,
            Action = action,
            Path = AuditLimits.Cap(path, AuditLimits.MaxPathBytes),
            Rights = rights,
            GrantId = grantId,
            Result = result,
            Detail = AuditLimits.Cap(detail, AuditLimits.MaxDetailBytes),
            PrevHash = LastHash,
        };
        record = record with { Hash = record.ComputeHash(LastHash) };
        Execute(
            """
            INSERT INTO audit (seq, time, actor, vm, action, path, rights, grant_id, result, detail, prev_hash, hash)
            VALUES (@Seq, @TimeMs, @Actor, @Vm, @Action, @Path, @Rights, @GrantId, @Result, @Detail, @PrevHash, @Hash)
            """,
            record);
        Execute(
            "INSERT INTO meta (key, value) VALUES ('audit_head', @head) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            new { head = $"{record.Seq}:{Convert.ToHexStringLower(record.Hash)}" });
        LastSeq = record.Seq;
        LastHash = record.Hash;
        if (vm is not null && result == "ok" && action is AuditActions.Grant or AuditActions.Revoke or AuditActions.Expire or AuditActions.Stale or AuditActions.Redeem)
        {
            TouchedVms.Add(vm);
        }

        return record;
    }
}
