using Dapper;

namespace Spectrum.Broker.State;

/// <summary>A query over the audit log; every field optional.</summary>
public sealed record AuditQuery
{
    public string? Vm { get; init; }
    public Spectrum.Policy.PathGlob? PathGlob { get; init; }
    public string? Action { get; init; }
    public long? SinceMs { get; init; }
    public long? UntilMs { get; init; }
    public int Limit { get; init; } = 100;
}

/// <summary>The outcome of walking the audit chain.</summary>
public sealed record AuditVerification(bool Ok, long Records, long? FirstBadSeq, string? Reason);

/// <summary>Reads and verifies the append-only audit log.</summary>
public sealed class AuditLog(BrokerStore store)
{
    /// <summary>The newest matching records, oldest first.</summary>
    public IReadOnlyList<AuditRecord> Query(AuditQuery query)
    {
        using var connection = store.Read();
        var sql = new System.Text.StringBuilder("SELECT seq, time AS time_ms, actor, vm, action, path, rights, grant_id, result, detail, prev_hash, hash FROM audit WHERE 1 = 1");
        if (query.Vm is not null)
        {
            sql.Append(" AND vm = @Vm");
        }

        if (query.Action is not null)
        {
            sql.Append(" AND action = @Action");
        }

        if (query.SinceMs is not null)
        {
            sql.Append(" AND time >= @SinceMs");
        }

        if (query.UntilMs is not null)
        {
            sql.Append(" AND time <= @UntilMs");
        }

        sql.Append(" ORDER BY seq DESC");
        var results = new List<AuditRecord>();
        // The glob is matched here rather than in SQL: GLOB's semantics differ from ours for '**'.
        foreach (var record in connection.Query<AuditRecord>(sql.ToString(), query, buffered: false))
        {
            if (query.PathGlob is { } glob && (record.Path is null || !Spectrum.Capabilities.TreePath.TryParse(record.Path, out var p, out _) || !glob.IsMatch(p.Value)))
            {
                continue;
            }

            results.Add(record);
            if (results.Count >= query.Limit)
            {
                break;
            }
        }

        results.Reverse();
        return results;
    }

    /// <summary>
    /// Walks the chain from the first record: sequence numbers must be contiguous from 1, every
    /// record's prev_hash must be its predecessor's hash, every hash must match its content, and
    /// the last record must be the head recorded with the last write. Names the first bad record.
    /// </summary>
    public AuditVerification Verify()
    {
        using var connection = store.Read();
        var expectedSeq = 1L;
        var prev = AuditRecord.GenesisHash;
        foreach (var record in connection.Query<AuditRecord>(
            "SELECT seq, time AS time_ms, actor, vm, action, path, rights, grant_id, result, detail, prev_hash, hash FROM audit ORDER BY seq",
            buffered: false))
        {
            if (record.Seq != expectedSeq)
            {
                return new(false, expectedSeq - 1, expectedSeq, $"record {expectedSeq} is missing (next is {record.Seq}): records were deleted");
            }

            if (!record.PrevHash.AsSpan().SequenceEqual(prev))
            {
                return new(false, expectedSeq - 1, record.Seq, $"record {record.Seq} does not follow record {record.Seq - 1}: records were deleted, reordered or edited");
            }

            if (!record.ComputeHash(prev).AsSpan().SequenceEqual(record.Hash))
            {
                return new(false, expectedSeq - 1, record.Seq, $"record {record.Seq} was edited: its content does not match its hash");
            }

            prev = record.Hash;
            expectedSeq++;
        }

        var count = expectedSeq - 1;
        var head = connection.ExecuteScalar<string?>("SELECT value FROM meta WHERE key = 'audit_head'");
        if (head is not null)
        {
            var parts = head.Split(':');
            var headSeq = long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            if (headSeq != count || !string.Equals(parts[1], Convert.ToHexStringLower(prev), StringComparison.Ordinal))
            {
                return new(false, count, Math.Min(headSeq, count + 1), $"the log ends at record {count} but the last write recorded record {headSeq}: records were deleted from the end");
            }
        }

        return new(true, count, null, null);
    }
}
