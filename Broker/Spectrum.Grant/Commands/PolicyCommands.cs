using System.CommandLine;
using Spectrum.Broker.Contracts;
using Spectrum.Cli;

namespace Spectrum.Grant.Commands;

/// <summary><c>policy check</c>, <c>policy diff</c>, <c>policy apply</c>.</summary>
internal static class PolicyCommands
{
    public static IEnumerable<Command> Build(CliApp app)
    {
        var policy = new Command("policy", "Check policy files, and show or apply what they change");

        var dir = new Argument<string?>("DIR") { Description = "Policies directory to check (default: the broker's own)", Arity = ArgumentArity.ZeroOrOne };
        var check = new Command("check", "Validate policy files; prints file:line:column: message per problem and exits 1 if any") { dir };
        app.SetAction(check, async (s, p, ct) =>
        {
            string? full = null;
            if (p.GetValue(dir) is { } d)
            {
                full = Path.GetFullPath(d);
                if (!Directory.Exists(full))
                {
                    throw CliException.Usage($"policy directory {full} does not exist; give the directory that holds broker.toml and vms/");
                }
            }

            var result = await s.PostAsync(
                ApiRoutes.PolicyCheck, new PolicyCheckRequest { Dir = full }, BrokerJson.Default.PolicyCheckRequest, BrokerJson.Default.PolicyCheckResult, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(result, BrokerJson.Default.PolicyCheckResult);
            }
            else if (result.Errors.Count == 0)
            {
                s.Out.WriteLine($"policy ok: {result.Dir}: {Text.Count(result.Vms, "VM", "VMs")}, {Text.Count(result.Grants, "grant", "grants")}");
            }
            else
            {
                foreach (var e in result.Errors)
                {
                    s.Out.WriteLine($"{e.File}:{e.Line}:{e.Column}: {e.Message}");
                }
            }

            if (!result.Ok || result.Errors.Count > 0)
            {
                throw CliException.Refused(
                    $"{Text.Count(result.Errors.Count, "problem", "problems")} in the policies at {result.Dir}; fix them and run `spectrum-grant policy check` again");
            }

            return ExitCodes.Ok;
        });
        policy.Subcommands.Add(check);

        var diff = new Command("diff", "Show what `policy apply` would change (+ added, - removed, ~ rights changed)");
        app.SetAction(diff, async (s, _, ct) =>
        {
            var result = await s.GetAsync(ApiRoutes.PolicyDiff, BrokerJson.Default.PolicyDiffResult, ct).ConfigureAwait(false);
            WriteDiff(s, result);
            return ExitCodes.Ok;
        });
        policy.Subcommands.Add(diff);

        var apply = new Command("apply", "Reconcile the policy grants with the policy files (idempotent)");
        app.SetAction(apply, async (s, _, ct) =>
        {
            var result = await s.Broker.SendAsync(HttpMethod.Post, ApiRoutes.PolicyApply, BrokerJson.Default.PolicyDiffResult, ct).ConfigureAwait(false);
            WriteDiff(s, result);
            if (!s.Json && result.Changes.Count > 0)
            {
                s.Out.WriteLine(result.Applied ? $"applied {Text.Count(result.Changes.Count, "change", "changes")}" : "not applied");
            }

            return ExitCodes.Ok;
        });
        policy.Subcommands.Add(apply);
        yield return policy;
    }

    private static void WriteDiff(Session s, PolicyDiffResult result)
    {
        if (s.Json)
        {
            s.WriteJson(result, BrokerJson.Default.PolicyDiffResult);
            return;
        }

        if (result.Changes.Count == 0)
        {
            s.Out.WriteLine("no changes");
            return;
        }

        foreach (var c in result.Changes)
        {
            s.Out.WriteLine(DiffLine(c));
        }
    }

    /// <summary><c>+ editor Documents rw</c>, <c>- vm path rights</c>, <c>~ vm path ro -> rw</c>.</summary>
    internal static string DiffLine(PolicyChangeDto c) => c.Op switch
    {
        "add" => $"+ {c.Vm} {c.Path} {c.Rights}",
        "remove" => $"- {c.Vm} {c.Path} {c.Rights}",
        "update" => $"~ {c.Vm} {c.Path} {c.OldRights ?? "?"} -> {c.Rights}",
        _ => $"? {c.Vm} {c.Path} {c.Rights} ({c.Op})",
    };
}
