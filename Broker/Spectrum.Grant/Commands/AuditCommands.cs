using System.CommandLine;
using System.Globalization;
using Spectrum.Broker.Contracts;
using Spectrum.Cli;

namespace Spectrum.Grant.Commands;

/// <summary><c>audit</c> and <c>audit verify</c>.</summary>
internal static class AuditCommands
{
    public static IEnumerable<Command> Build(CliApp app)
    {
        var vm = new Option<string?>("--vm") { Description = "Only records about this VM", HelpName = "VM" };
        var path = new Option<string?>("--path") { Description = "Only records whose path matches this glob (Documents/**)", HelpName = "GLOB" };
        var action = new Option<string?>("--action")
        {
            Description = "Only this action: " + string.Join(", ", GrantChecks.AuditActions),
            HelpName = "ACTION",
        };
        action.CompletionSources.Add(_ => GrantChecks.AuditActions.Select(a => new System.CommandLine.Completions.CompletionItem(a)));
        var since = new Option<string?>("--since") { Description = "Records at or after this time: a duration ago (1h, 2d) or an ISO 8601 time", HelpName = "TIME" };
        var until = new Option<string?>("--until") { Description = "Records before this time: a duration ago or an ISO 8601 time", HelpName = "TIME" };
        var limit = new Option<string?>("--limit")
        {
            Description = string.Create(CultureInfo.InvariantCulture, $"At most this many records, the newest (1 to {GrantChecks.MaxLimit}; the broker's default when absent)"),
            HelpName = "N",
        };
        var audit = new Command("audit", "Read the audit log (grants, revocations, denials, VM starts and stops)") { vm, path, action, since, until, limit };
        app.SetAction(audit, async (s, p, ct) =>
        {
            var route = Session.Query(
                ApiRoutes.Audit,
                ("vm", p.GetValue(vm) is { } v ? Checks.VmName(v) : null),
                ("path", p.GetValue(path) is { } g ? GrantChecks.Glob(g) : null),
                ("action", p.GetValue(action) is { } a ? GrantChecks.AuditAction(a) : null),
                ("since", p.GetValue(since) is { } from ? GrantChecks.PointInTime(from, "--since") : null),
                ("until", p.GetValue(until) is { } to ? GrantChecks.PointInTime(to, "--until") : null),
                ("limit", p.GetValue(limit) is { } n ? GrantChecks.Limit(n).ToString(CultureInfo.InvariantCulture) : null));
            var records = await s.GetAsync(route, BrokerJson.Default.IReadOnlyListAuditRecordDto, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(records, BrokerJson.Default.IReadOnlyListAuditRecordDto);
                return ExitCodes.Ok;
            }

            if (records.Count == 0)
            {
                s.Out.WriteLine("no audit records");
                return ExitCodes.Ok;
            }

            var table = new TableWriter("SEQ", "TIME", "ACTOR", "VM", "ACTION", "PATH", "RIGHTS", "GRANT", "RESULT");
            foreach (var r in records)
            {
                table.AddRow(
                    r.Seq.ToString(CultureInfo.InvariantCulture), Text.Time(r.Time), r.Actor, r.Vm, r.Action, r.Path, r.Rights, r.GrantId, r.Result);
            }

            table.Write(s.Out);
            return ExitCodes.Ok;
        });

        var verify = new Command("verify", "Check the audit log's hash chain; exit 1 if it is broken");
        app.SetAction(verify, async (s, _, ct) =>
        {
            var result = await s.GetAsync(ApiRoutes.AuditVerify, BrokerJson.Default.AuditVerifyResult, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(result, BrokerJson.Default.AuditVerifyResult);
            }
            else if (result.Ok)
            {
                s.Out.WriteLine($"audit chain ok: {Text.Count(result.Records, "record", "records")}");
            }

            if (!result.Ok)
            {
                var at = result.FirstBadSeq is { } seq ? seq.ToString(CultureInfo.InvariantCulture) : "?";
                throw CliException.Refused(
                    $"audit chain is broken at record {at}: {result.Reason ?? "no reason given"}; records from there on cannot be trusted: keep a copy of the database for investigation and restore it from a backup");
            }

            return ExitCodes.Ok;
        });
        audit.Subcommands.Add(verify);
        yield return audit;
    }
}
