using System.Text.RegularExpressions;
using Spectrum.Broker.State;
using Spectrum.Capabilities;

namespace Spectrum.Broker.Grants;

/// <summary>What to grant; texts are validated by <see cref="GrantService"/>.</summary>
public sealed record GrantSpec
{
    public required string Vm { get; init; }
    public required string Path { get; init; }
    public string? Rights { get; init; }
    public string? Expires { get; init; }
    public bool Session { get; init; }
    public string Source { get; init; } = GrantSources.Cli;
    public string? SourceDetail { get; init; }
    public string? Parent { get; init; }

    /// <summary>
    /// A named slot (the portal's SaveFile and SaveFiles): the name may not exist yet. When it is
    /// absent, the grant is a file grant on that name in an existing directory (the directory's
    /// identity is recorded, the file has none yet), it is not stale, and its rights must include
    /// <c>create</c>; the view lets the guest create exactly that name, and scratch files next to
    /// it for write-temp-then-rename saves. An existing name must be a regular file, as for any
    /// file grant. The CLI never sets it: a mistyped path there still fails.
    /// </summary>
    public bool MayNotExist { get; init; }
}

/// <summary>A VM the broker knows.</summary>
public sealed record VmRow(string Name, bool Declared, string? PolicyFile, int Grants);

/// <summary>
/// Grants: create, revoke (with the delegations derived from them), expire, list and explain.
/// Every change is one transaction with its audit records.
/// </summary>
public sealed partial class GrantService(BrokerStore store, TreeRoot tree)
{
    /// <summary>Every column of the grants table, in <see cref="GrantRow"/> order.</summary>
    internal const string Columns = "id, vm, path, kind, rights, persistence, source, source_detail, parent, created_at, expires_at, state, ended_at, dev, ino, handle_type, handle, parent_dev, parent_ino, parent_handle_type, parent_handle";

    public BrokerStore Store => store;

    public TreeRoot Tree => tree;

    /// <summary>
    /// VM names: what a policy file name or a launcher may use. Anchored with \A and \z: .NET's
    /// <c>$</c> also matches before a final newline, which let "vm1\n" through as a second VM.
    /// </summary>
    [GeneratedRegex(@"\A[a-z0-9][a-z0-9._-]{0,63}\z", RegexOptions.CultureInvariant)]
    private static partial Regex VmNamePattern();

    public static string ValidateVm(string? vm) =>
        vm is not null && VmNamePattern().IsMatch(vm)
            ? vm
            : throw BrokerRefusal.Bad($"bad VM name '{BrokerRefusal.Printable(vm)}'; use 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit");

    public static TreePath ValidatePath(string? path) =>
        TreePath.TryParse(path, out var p, out var error) ? p.Value : throw BrokerRefusal.Bad(error);

    public static Rights ValidateRights(string? rights)
    {
        if (!RightsText.TryParse(rights ?? "ro", out var r, out var error))
        {
            throw BrokerRefusal.Bad(error);
        }

        return r;
    }

    public static TimeSpan? ValidateDuration(string? text) =>
        text is null ? null
        : DurationText.TryParse(text, out var d, out var error) ? d
        : throw BrokerRefusal.Bad(error);

    /// <summary>A new grant id: <c>g_</c> and 16 hex digits of randomness (the token format binds it).</summary>
    public static string NewGrantId() => GrantId.New().ToString();

    /// <summary>Creates a grant after checking every input and resolving its root in the tree.</summary>
    public Task<GrantRow> GrantAsync(string actor, GrantSpec spec, CancellationToken ct = default)
    {
        var insert = Prepare(spec);
        return store.WriteAsync(tx => insert(tx, actor), ct);
    }

    /// <summary>
    /// Creates several grants in one transaction (the picks of one portal dialog): every spec is
    /// checked and resolved first, so either all of them are granted or none is.
    /// </summary>
    public Task<IReadOnlyList<GrantRow>> GrantAllAsync(string actor, IReadOnlyList<GrantSpec> specs, CancellationToken ct = default)
    {
        var inserts = specs.Select(Prepare).ToList();
        return store.WriteAsync<IReadOnlyList<GrantRow>>(tx => inserts.Select(insert => insert(tx, actor)).ToList(), ct);
    }

    /// <summary>Validates <paramref name="spec"/> and resolves its root; returns the insert to run in a write transaction.</summary>
    private Func<WriteTransaction, string, GrantRow> Prepare(GrantSpec spec)
    {
        var vm = ValidateVm(spec.Vm);
        var path = ValidatePath(spec.Path);
        var rights = ValidateRights(spec.Rights);
        var expires = ValidateDuration(spec.Expires);
        var (kind, identity, parent) = spec.MayNotExist ? tree.ResolveSlot(path) : Resolved(tree.ResolveWithParent(path));
        if (identity is null && (rights & Capabilities.Rights.Create) == 0)
        {
            throw BrokerRefusal.Bad($"'{path}' does not exist in the tree {tree.Path}, and a grant for a name that does not exist yet needs the create right (rights {RightsText.Format(rights)}); grant rw or add create, or create the file first");
        }

        return (tx, actor) => Insert(tx, actor, vm, path, kind, rights, expires is null ? null : tx.NowMs + (long)expires.Value.TotalMilliseconds, spec, identity, parentIdentity: parent);
    }

    private static (string Kind, Interop.FileIdentity? Identity, Interop.FileIdentity? Parent) Resolved((string Kind, Interop.FileIdentity Identity, Interop.FileIdentity? Parent) r) => r;

    /// <summary>Inserts a grant row and its audit record inside <paramref name="tx"/>.</summary>
    internal static GrantRow Insert(WriteTransaction tx, string actor, string vm, TreePath path, string kind, Rights rights, long? expiresAtMs, GrantSpec spec, Interop.FileIdentity? identity, string state = GrantStates.Active, string? reason = null, Interop.FileIdentity? parentIdentity = null)
    {
        if (rights == Capabilities.Rights.None)
        {
            throw BrokerRefusal.Bad("a grant needs at least one right; use ro, rw or a comma list of rights");
        }

        var row = new GrantRow
        {
            Id = NewGrantId(),
            Vm = vm,
            Path = path.Value,
            Kind = kind,
            Rights = (long)rights,
            Persistence = spec.Session ? "session" : "persistent",
            Source = spec.Source,
            SourceDetail = spec.SourceDetail,
            Parent = spec.Parent,
            CreatedAt = tx.NowMs,
            ExpiresAt = expiresAtMs,
            State = state,
            Dev = identity is { } i1 ? (long)i1.Dev : null,
            Ino = identity is { } i2 ? (long)i2.Ino : null,
            HandleType = identity?.Handle is null ? null : identity.Value.HandleType,
            Handle = identity?.Handle,
            ParentDev = parentIdentity is { } p1 ? (long)p1.Dev : null,
            ParentIno = parentIdentity is { } p2 ? (long)p2.Ino : null,
            ParentHandleType = parentIdentity?.Handle is null ? null : parentIdentity.Value.HandleType,
            ParentHandle = parentIdentity?.Handle,
        };
        tx.Execute(
            "INSERT INTO vms (name, declared, policy_file, created_at) VALUES (@vm, 0, NULL, @now) ON CONFLICT (name) DO NOTHING",
            new { vm, now = tx.NowMs });
        tx.Execute(
            $"""
            INSERT INTO grants ({Columns})
            VALUES (@Id, @Vm, @Path, @Kind, @Rights, @Persistence, @Source, @SourceDetail, @Parent, @CreatedAt, @ExpiresAt, @State, @EndedAt, @Dev, @Ino, @HandleType, @Handle, @ParentDev, @ParentIno, @ParentHandleType, @ParentHandle)
            """,
            row);
        tx.Audit(actor, state == GrantStates.Stale ? AuditActions.Stale : AuditActions.Grant, "ok", vm, row.Path, RightsText.Format(rights), row.Id, reason is null ? Describe(spec, expiresAtMs) : $"{Describe(spec, expiresAtMs)}; stale: {reason}");
        return row;
    }

    private static string Describe(GrantSpec spec, long? expiresAtMs)
    {
        var parts = new List<string> { $"source={spec.Source}" };
        if (spec.SourceDetail is not null)
        {
            parts.Add($"detail={spec.SourceDetail}");
        }

        if (spec.Session)
        {
            parts.Add("session");
        }

        if (expiresAtMs is not null)
        {
            parts.Add($"expires={DateTimeOffset.FromUnixTimeMilliseconds(expiresAtMs.Value):O}");
        }

        if (spec.Parent is not null)
        {
            parts.Add($"parent={spec.Parent}");
        }

        return string.Join(' ', parts);
    }

    /// <summary>Revokes one grant and every delegation derived from it.</summary>
    public Task<IReadOnlyList<string>> RevokeAsync(string actor, string grantId, CancellationToken ct = default)
    {
        if (!GrantIdPattern().IsMatch(grantId))
        {
            throw BrokerRefusal.Bad($"bad grant id '{BrokerRefusal.Printable(grantId)}'; grant ids look like g_0123456789abcdef (see `spectrum-grant list`)");
        }

        return store.WriteAsync<IReadOnlyList<string>>(
            tx =>
            {
                var row = tx.QuerySingleOrDefault<GrantRow>($"SELECT {Columns} FROM grants WHERE id = @grantId", new { grantId })
                    ?? throw BrokerRefusal.NotFound($"no grant {grantId}; list grants with `spectrum-grant list --all`");
                if (row.State is GrantStates.Revoked or GrantStates.Expired)
                {
                    throw BrokerRefusal.Conflict($"grant {grantId} already ended ({row.State}); nothing to revoke");
                }

                return EndWithDescendants(tx, actor, [row.Id], GrantStates.Revoked, AuditActions.Revoke, "revoked");
            },
            ct);
    }

    /// <summary>Grant ids, anchored with \A and \z (not ^ and $, which accept a trailing newline).</summary>
    [GeneratedRegex(@"\Ag_[0-9a-f]{16}\z", RegexOptions.CultureInvariant)]
    private static partial Regex GrantIdPattern();

    /// <summary>Revokes every live grant of a VM, or only those at or below <paramref name="pathText"/>.</summary>
    public Task<IReadOnlyList<string>> RevokeMatchingAsync(string actor, string vmText, string? pathText, CancellationToken ct = default)
    {
        var vm = ValidateVm(vmText);
        var path = pathText is null ? (TreePath?)null : ValidatePath(pathText);
        return store.WriteAsync<IReadOnlyList<string>>(
            tx =>
            {
                var ids = tx.Query<GrantRow>($"SELECT {Columns} FROM grants WHERE vm = @vm AND state IN ('active', 'stale') ORDER BY path, id", new { vm })
                    .Where(g => path is null || g.TreePath.IsWithin(path.Value))
                    .Select(g => g.Id)
                    .ToList();
                if (ids.Count == 0)
                {
                    throw BrokerRefusal.NotFound(path is null
                        ? $"VM {vm} has no live grants; see `spectrum-grant list`"
                        : $"VM {vm} has no live grants at or below '{path}'; see `spectrum-grant list --vm {vm}`");
                }

                return EndWithDescendants(tx, actor, ids, GrantStates.Revoked, AuditActions.Revoke, "revoked");
            },
            ct);
    }

    /// <summary>Ends grants and, transitively, the delegations derived from them. One audit record each.</summary>
    internal static IReadOnlyList<string> EndWithDescendants(WriteTransaction tx, string actor, IEnumerable<string> roots, string state, string action, string detail)
    {
        var ended = new List<string>();
        var queue = new Queue<string>(roots);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (queue.TryDequeue(out var id))
        {
            if (!seen.Add(id))
            {
                continue;
            }

            var row = tx.QuerySingleOrDefault<GrantRow>($"SELECT {Columns} FROM grants WHERE id = @id", new { id });
            if (row is null || row.State is GrantStates.Revoked or GrantStates.Expired)
            {
                continue;
            }

            tx.Execute("UPDATE grants SET state = @state, ended_at = @now WHERE id = @id", new { state, now = tx.NowMs, id });
            tx.Audit(actor, action, "ok", row.Vm, row.Path, RightsText.Format(row.RightsValue), row.Id, ended.Count == 0 || row.Parent is null ? detail : $"{detail} with parent {row.Parent}");
            ended.Add(id);
            foreach (var child in tx.Query<string>("SELECT id FROM grants WHERE parent = @id AND state IN ('active', 'stale') ORDER BY id", new { id }))
            {
                queue.Enqueue(child);
            }
        }

        return ended;
    }

    /// <summary>Marks every active grant whose expiry has passed as expired, with its delegations. Returns how many.</summary>
    public int ExpireDue() =>
        store.Write(tx =>
        {
            var due = tx.Query<string>("SELECT id FROM grants WHERE state = 'active' AND expires_at IS NOT NULL AND expires_at <= @now ORDER BY expires_at, id", new { now = tx.NowMs }).ToList();
            return due.Count == 0 ? 0 : EndWithDescendants(tx, "broker", due, GrantStates.Expired, AuditActions.Expire, "expired").Count;
        });

    /// <summary>Grants, newest first; by default only the live ones (active or stale).</summary>
    public IReadOnlyList<GrantRow> List(string? vmText, string? pathText, bool all)
    {
        var vm = vmText is null ? null : ValidateVm(vmText);
        var path = pathText is null ? (TreePath?)null : ValidatePath(pathText);
        using var connection = store.Read();
        var now = store.NowMs;
        // Conditions are added, not written as (@vm IS NULL OR vm = @vm): that form defeats the index (measured: 8 ms against 20 µs in a 110,000-grant store).
        var sql = $"SELECT {Columns} FROM grants WHERE 1 = 1 {(vm is null ? "" : "AND vm = @vm")} {(all ? "" : "AND state IN ('active', 'stale')")} ORDER BY vm, path, created_at, id";
        return Dapper.SqlMapper.Query<GrantRow>(connection, sql, new { vm })
            .Where(g => path is null || g.TreePath.IsWithin(path.Value))
            .Select(g => WithTimeState(g, now))
            .Where(g => all || g.State is GrantStates.Active or GrantStates.Stale)
            .ToList();
    }

    /// <summary>One grant, whatever its state.</summary>
    public GrantRow Show(string grantId)
    {
        if (!GrantIdPattern().IsMatch(grantId))
        {
            throw BrokerRefusal.Bad($"bad grant id '{BrokerRefusal.Printable(grantId)}'; grant ids look like g_0123456789abcdef (see `spectrum-grant list`)");
        }

        using var connection = store.Read();
        var row = Dapper.SqlMapper.QuerySingleOrDefault<GrantRow>(connection, $"SELECT {Columns} FROM grants WHERE id = @grantId", new { grantId })
            ?? throw BrokerRefusal.NotFound($"no grant {grantId}; list grants with `spectrum-grant list --all`");
        return WithTimeState(row, store.NowMs);
    }

    /// <summary>A grant past its expiry reads as expired even before the sweep has written it.</summary>
    private static GrantRow WithTimeState(GrantRow row, long now)
    {
        if (row.State == GrantStates.Active && row.ExpiresAt <= now)
        {
            row.State = GrantStates.Expired;
            row.EndedAt = row.ExpiresAt;
        }

        return row;
    }

    /// <summary>The live grants that cover <paramref name="pathText"/>, ordered by VM then grant path.</summary>
    public IReadOnlyList<GrantRow> WhoCan(string pathText)
    {
        var path = ValidatePath(pathText);
        using var connection = store.Read();
        var now = store.NowMs;
        // Candidates: grants on the path itself or on one of its ancestors (directory grants cover subtrees).
        var candidates = new List<string> { ".", path.Value };
        for (var i = path.Value.IndexOf('/', StringComparison.Ordinal); i > 0; i = path.Value.IndexOf('/', i + 1))
        {
            candidates.Add(path.Value[..i]);
        }

        return Dapper.SqlMapper.Query<GrantRow>(connection, $"SELECT {Columns} FROM grants WHERE state IN ('active', 'stale') AND path IN @candidates ORDER BY vm, path, id", new { candidates })
            .Where(g => g.IsLiveAt(now) && g.Covers(path))
            .ToList();
    }

    /// <summary>Every VM the broker knows, with its number of live grants.</summary>
    public IReadOnlyList<VmRow> Vms()
    {
        using var connection = store.Read();
        return Dapper.SqlMapper.Query<(string Name, long Declared, string? PolicyFile, long Grants)>(
                connection,
                """
                SELECT v.name, v.declared, v.policy_file,
                       (SELECT count(*) FROM grants g WHERE g.vm = v.name AND g.state IN ('active', 'stale')) AS grants
                FROM vms v ORDER BY v.name
                """)
            .Select(v => new VmRow(v.Name, v.Declared != 0, v.PolicyFile, (int)v.Grants))
            .ToList();
    }

    /// <summary>Live grants in the store.</summary>
    public long CountLive()
    {
        using var connection = store.Read();
        return Dapper.SqlMapper.ExecuteScalar<long>(connection, "SELECT count(*) FROM grants WHERE state IN ('active', 'stale')");
    }
}
