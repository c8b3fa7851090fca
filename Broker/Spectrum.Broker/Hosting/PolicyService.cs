using Spectrum.Broker.Contracts;
using Spectrum.Broker.Grants;
using Spectrum.Broker.State;
using Spectrum.Capabilities;
using Spectrum.Policy;

namespace Spectrum.Broker.Hosting;

/// <summary>
/// Reconciles the static grants of the policy files with the store. Deterministic (changes in
/// VM, then path order) and idempotent (a second apply finds nothing to do); <c>diff</c> computes
/// exactly what <c>apply</c> would do, and apply is one transaction: all of it or none.
/// A bad policy file fails the whole operation and changes nothing.
/// </summary>
public sealed class PolicyService(BrokerServices services, PolicySet startup)
{
    private const string LiveGrants = $"SELECT {GrantService.Columns} FROM grants WHERE source = 'policy' AND state IN ('active', 'stale') ORDER BY vm, path, id";

    /// <summary>The policy as last applied.</summary>
    public PolicySet Current { get; private set; } = startup;

    public PolicyCheckResult Check(string? dir)
    {
        var target = dir ?? services.Paths.Policies;
        if (!Path.IsPathFullyQualified(target))
        {
            throw BrokerRefusal.Bad($"policy check needs an absolute directory, got '{target}'");
        }

        // Check is where a missing kernel or disk image is caught, not at boot; start and apply
        // accept it (images may be installed later) and `spectrum-vm run` refuses it.
        var errors = PolicyLoader.Check(target, checkFiles: true);
        var (vms, grants) = (0, 0);
        if (errors.Count == 0)
        {
            var set = PolicyLoader.Load(target, checkFiles: true);
            vms = set.Vms.Count;
            grants = set.Vms.Values.Sum(v => v.Grants.Count);
        }

        return new PolicyCheckResult
        {
            Ok = errors.Count == 0,
            Dir = target,
            Vms = vms,
            Grants = grants,
            Errors = errors.Select(e => new PolicyErrorDto { File = e.File, Line = e.Line, Column = e.Column, Message = e.Message }).ToList(),
        };
    }

    public PolicyDiffResult Diff()
    {
        var set = LoadOrRefuse();
        using var connection = services.Store.Read();
        var live = Dapper.SqlMapper.Query<GrantRow>(connection, LiveGrants).ToList();
        return new PolicyDiffResult { Applied = false, Changes = Plan(set, live).Select(c => c.Dto).ToList() };
    }

    public async Task<PolicyDiffResult> ApplyAsync(string actor, CancellationToken ct)
    {
        var set = LoadOrRefuse();
        var changes = await services.Store.WriteAsync(tx => Apply(tx, actor, set, auditAlways: true), ct).ConfigureAwait(false);
        Current = set;
        services.SignalExpiryChanged();
        return new PolicyDiffResult { Applied = true, Changes = changes };
    }

    /// <summary>Reconciles the policy the broker started with; audited only when something changed.</summary>
    public void ApplyAtStart()
    {
        try
        {
            services.Store.Write(tx => Apply(tx, "broker", Current, auditAlways: false));
        }
        catch (BrokerRefusal e) when (e.Kind == RefusalKind.Unavailable)
        {
            throw new BrokerStartupException($"cannot reconcile the policy at start: {e.Message}");
        }
    }

    private PolicySet LoadOrRefuse()
    {
        try
        {
            return PolicyLoader.Load(services.Paths.Policies);
        }
        catch (PolicyException e)
        {
            throw BrokerRefusal.Bad($"the policy is invalid, nothing was changed: {e.Message}; fix it (see `spectrum-grant policy check`)");
        }
    }

    private IReadOnlyList<PolicyChangeDto> Apply(WriteTransaction tx, string actor, PolicySet set, bool auditAlways)
    {
        var live = tx.Query<GrantRow>(LiveGrants).ToList();
        var plan = Plan(set, live);
        foreach (var change in plan)
        {
            var policyActor = $"policy:{change.Dto.File}";
            switch (change.Dto.Op)
            {
                case "add":
                    var grant = change.Desired!;
                    var (kind, identity, parentIdentity, state, detail) = ResolveForPolicy(grant);
                    GrantService.Insert(
                        tx,
                        policyActor,
                        grant.Vm,
                        grant.Path,
                        kind,
                        grant.Rights,
                        grant.Expires is null ? null : tx.NowMs + (long)grant.Expires.Value.TotalMilliseconds,
                        new GrantSpec { Vm = grant.Vm, Path = grant.Path.Value, Source = GrantSources.Policy, SourceDetail = change.Dto.File },
                        identity,
                        state,
                        detail,
                        parentIdentity);
                    break;
                case "update":
                    var row = change.Existing!;
                    tx.Execute("UPDATE grants SET rights = @rights WHERE id = @id", new { rights = (long)change.Desired!.Rights, id = row.Id });
                    tx.Audit(policyActor, AuditActions.Grant, "ok", row.Vm, row.Path, change.Dto.Rights, row.Id, $"policy changed rights from {change.Dto.OldRights}");
                    break;
                case "remove":
                    GrantService.EndWithDescendants(tx, policyActor, [change.Existing!.Id], GrantStates.Revoked, AuditActions.Revoke, "removed from policy");
                    break;
            }
        }

        tx.Execute("UPDATE vms SET declared = 0, policy_file = NULL WHERE declared = 1");
        foreach (var vm in set.Vms.Values)
        {
            tx.Execute(
                "INSERT INTO vms (name, declared, policy_file, created_at) VALUES (@name, 1, @file, @now) ON CONFLICT (name) DO UPDATE SET declared = 1, policy_file = excluded.policy_file",
                new { name = vm.Name, file = Relative(vm.File), now = tx.NowMs });
        }

        if (auditAlways || plan.Count > 0)
        {
            var added = plan.Count(c => c.Dto.Op == "add");
            var removed = plan.Count(c => c.Dto.Op == "remove");
            var updated = plan.Count(c => c.Dto.Op == "update");
            tx.Audit(actor, AuditActions.PolicyApply, "ok", detail: $"{added} added, {removed} removed, {updated} updated from {services.Paths.Policies}");
        }

        return plan.Select(c => c.Dto).ToList();
    }

    /// <summary>A policy grant whose path is missing or not grantable is recorded stale, not dropped, so `list` shows it.</summary>
    private (string Kind, Interop.FileIdentity? Identity, Interop.FileIdentity? Parent, string State, string? Detail) ResolveForPolicy(StaticGrant grant)
    {
        var declared = grant.Kind is GrantKind.File ? GrantKinds.File : GrantKinds.Directory;
        try
        {
            var (kind, identity, parent) = services.Tree.ResolveWithParent(grant.Path);
            if (grant.Kind is not null && kind != declared)
            {
                return (declared, null, null, GrantStates.Stale, $"{Relative(FileOf(grant))}: policy says {declared}, the tree has a {kind}");
            }

            return (kind, identity, parent, GrantStates.Active, null);
        }
        catch (BrokerRefusal e) when (e.Kind != RefusalKind.Unavailable)
        {
            // A transient refusal (short of fds) propagates: the whole apply rolls back, nothing is marked stale.
            return (declared, null, null, GrantStates.Stale, $"{Relative(FileOf(grant))}: {e.Message.Split(';')[0]}");
        }
    }

    private string FileOf(StaticGrant grant) => Current.Vms.TryGetValue(grant.Vm, out var vm) ? vm.File : grant.Vm;

    private sealed record Change(PolicyChangeDto Dto, StaticGrant? Desired, GrantRow? Existing);

    private List<Change> Plan(PolicySet set, IReadOnlyList<GrantRow> live)
    {
        var existing = new Dictionary<(string, string), GrantRow>();
        foreach (var row in live)
        {
            existing.TryAdd((row.Vm, row.Path), row);
        }

        var changes = new List<Change>();
        var wanted = new HashSet<(string, string)>();
        foreach (var vm in set.Vms.Values.OrderBy(v => v.Name, StringComparer.Ordinal))
        {
            var file = Relative(vm.File);
            foreach (var grant in vm.Grants.OrderBy(g => g.Path.Value, StringComparer.Ordinal))
            {
                wanted.Add((vm.Name, grant.Path.Value));
                var rights = RightsText.Format(grant.Rights);
                if (!existing.TryGetValue((vm.Name, grant.Path.Value), out var row))
                {
                    changes.Add(new(new PolicyChangeDto { Op = "add", Vm = vm.Name, Path = grant.Path.Value, Rights = rights, ExpiresIn = grant.Expires is { } e ? DurationText.Format(e) : null, File = file }, grant, null));
                }
                else if (row.RightsValue != grant.Rights)
                {
                    changes.Add(new(new PolicyChangeDto { Op = "update", Vm = vm.Name, Path = grant.Path.Value, Rights = rights, OldRights = RightsText.Format(row.RightsValue), GrantId = row.Id, File = file }, grant, row));
                }
            }
        }

        foreach (var row in live.Where(r => !wanted.Contains((r.Vm, r.Path))))
        {
            changes.Add(new(new PolicyChangeDto { Op = "remove", Vm = row.Vm, Path = row.Path, Rights = RightsText.Format(row.RightsValue), GrantId = row.Id, File = row.SourceDetail ?? "" }, null, row));
        }

        return changes
            .OrderBy(c => c.Dto.Vm, StringComparer.Ordinal)
            .ThenBy(c => c.Dto.Path, StringComparer.Ordinal)
            .ThenBy(c => c.Dto.Op, StringComparer.Ordinal)
            .ToList();
    }

    private string Relative(string file) =>
        Path.IsPathFullyQualified(file) ? Path.GetRelativePath(services.Paths.Policies, file) : file;
}
