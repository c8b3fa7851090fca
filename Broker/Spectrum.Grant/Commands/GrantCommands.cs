using System.CommandLine;
using Spectrum.Broker.Contracts;
using Spectrum.Capabilities;
using Spectrum.Cli;

namespace Spectrum.Grant.Commands;

/// <summary><c>grant</c>, <c>revoke</c>, <c>list</c>, <c>show</c>, <c>who-can</c>.</summary>
internal static class GrantCommands
{
    public static IEnumerable<Command> Build(CliApp app)
    {
        yield return GrantCommand(app);
        yield return RevokeCommand(app);
        yield return ListCommand(app);
        yield return ShowCommand(app);
        yield return WhoCanCommand(app);
    }

    private static Command GrantCommand(CliApp app)
    {
        var vm = new Argument<string>("VM") { Description = "The VM that receives access" };
        var path = new Argument<string>("PATH") { Description = "Path relative to the tree (. for the whole tree); directories cover their subtree" };
        var rights = new Option<string?>("--rights")
        {
            Description = "ro (default), rw, or a comma list of read, write, create, delete, rename, setattr, grant",
            HelpName = "RIGHTS",
        };
        var expires = new Option<string?>("--expires") { Description = "End the grant after this long (90s, 30m, 8h, 1h30m, 2d, 1w)", HelpName = "DURATION" };
        var session = new Option<bool>("--session") { Description = "End the grant when the VM stops" };
        var token = new Option<bool>("--token") { Description = "Also mint a capability token for the grant (shown once, never stored)" };
        var command = new Command("grant", "Give a VM access to a file or directory of the tree") { vm, path, rights, expires, session, token };
        app.SetAction(command, async (s, p, ct) =>
        {
            var rightsText = p.GetValue(rights);
            var request = new GrantRequest
            {
                Vm = Checks.VmName(p.GetValue(vm)),
                Path = Checks.TreePath(p.GetValue(path)).Value,
                Rights = rightsText is null ? null : RightsText.Format(Checks.Rights(rightsText)),
                Expires = p.GetValue(expires) is { } e ? DurationText.Format(Checks.Duration(e, "--expires")) : null,
                Session = p.GetValue(session),
                Token = p.GetValue(token),
            };
            var created = await s.PostAsync(ApiRoutes.Grants, request, BrokerJson.Default.GrantRequest, BrokerJson.Default.GrantCreated, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(created, BrokerJson.Default.GrantCreated);
                return ExitCodes.Ok;
            }

            s.Out.WriteLine(Text.Granted(created.Grant, s.Now));
            if (created.Token is { } t)
            {
                s.Out.WriteLine($"token: {t}");
                s.Out.WriteLine("note: the token is shown once and never stored; keep it now, and pass it on through a file or pipe, not a command line");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RevokeCommand(CliApp app)
    {
        var id = new Argument<string?>("GRANT_ID") { Description = "The grant to revoke (its delegations end with it)", Arity = ArgumentArity.ZeroOrOne };
        var vm = new Option<string?>("--vm") { Description = "Revoke every active grant of this VM", HelpName = "VM" };
        var path = new Option<string?>("--path") { Description = "With --vm: only grants at or below this path", HelpName = "PATH" };
        var command = new Command("revoke", "Revoke one grant by id, or a VM's grants (optionally below a path)") { id, vm, path };
        app.SetAction(command, async (s, p, ct) =>
        {
            var grantId = p.GetValue(id);
            var vmName = p.GetValue(vm);
            var pathText = p.GetValue(path);
            RevokeResult result;
            if (grantId is not null)
            {
                if (vmName is not null || pathText is not null)
                {
                    throw CliException.Usage("give either GRANT_ID or --vm [--path], not both; run `spectrum-grant revoke --help` for usage");
                }

                var route = $"{ApiRoutes.Grants}/{Uri.EscapeDataString(GrantChecks.Id(grantId, "grant id"))}";
                result = await s.Broker.SendAsync(HttpMethod.Delete, route, BrokerJson.Default.RevokeResult, ct).ConfigureAwait(false);
            }
            else if (vmName is not null)
            {
                var request = new RevokeRequest
                {
                    Vm = Checks.VmName(vmName),
                    Path = pathText is null ? null : Checks.TreePath(pathText).Value,
                };
                result = await s.PostAsync(ApiRoutes.Revoke, request, BrokerJson.Default.RevokeRequest, BrokerJson.Default.RevokeResult, ct).ConfigureAwait(false);
            }
            else
            {
                throw CliException.Usage(pathText is null
                    ? "nothing to revoke; give a GRANT_ID, or --vm VM [--path PATH]"
                    : "--path needs --vm; give --vm VM --path PATH");
            }

            WriteRevoked(s, result, "no active grant matched; nothing was revoked");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Shared by <c>revoke</c> and <c>token revoke</c>.</summary>
    internal static void WriteRevoked(Session s, RevokeResult result, string none)
    {
        if (s.Json)
        {
            s.WriteJson(result, BrokerJson.Default.RevokeResult);
            return;
        }

        if (result.Revoked.Count == 0)
        {
            s.Out.WriteLine(none);
            return;
        }

        foreach (var id in result.Revoked)
        {
            s.Out.WriteLine($"revoked {id}");
        }
    }

    private static Command ListCommand(CliApp app)
    {
        var vm = new Option<string?>("--vm") { Description = "Only this VM's grants", HelpName = "VM" };
        var path = new Option<string?>("--path") { Description = "Only grants at or below this path", HelpName = "PATH" };
        var all = new Option<bool>("--all") { Description = "Include ended grants (revoked, expired)" };
        var command = new Command("list", "List grants: active and stale ones, or all with --all") { vm, path, all };
        app.SetAction(command, async (s, p, ct) =>
        {
            var route = Session.Query(
                ApiRoutes.Grants,
                ("vm", p.GetValue(vm) is { } v ? Checks.VmName(v) : null),
                ("path", p.GetValue(path) is { } t ? Checks.TreePath(t).Value : null),
                ("all", p.GetValue(all) ? "true" : null));
            var grants = await s.GetAsync(route, BrokerJson.Default.IReadOnlyListGrantDto, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(grants, BrokerJson.Default.IReadOnlyListGrantDto);
                return ExitCodes.Ok;
            }

            if (grants.Count == 0)
            {
                s.Out.WriteLine("no grants");
                return ExitCodes.Ok;
            }

            var table = new TableWriter("ID", "VM", "PATH", "KIND", "RIGHTS", "SOURCE", "EXPIRES", "STATE");
            foreach (var g in grants)
            {
                table.AddRow(g.Id, g.Vm, g.Path, g.Kind, g.Rights, g.Source, Text.Expiry(g.ExpiresAt, s.Now), g.State);
            }

            table.Write(s.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command ShowCommand(CliApp app)
    {
        var id = new Argument<string>("GRANT_ID") { Description = "The grant to show" };
        var command = new Command("show", "Show one grant in full") { id };
        app.SetAction(command, async (s, p, ct) =>
        {
            var route = $"{ApiRoutes.Grants}/{Uri.EscapeDataString(GrantChecks.Id(p.GetValue(id), "grant id"))}";
            var g = await s.GetAsync(route, BrokerJson.Default.GrantDto, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(g, BrokerJson.Default.GrantDto);
                return ExitCodes.Ok;
            }

            var table = new TableWriter("KEY", "VALUE");
            table.AddRow("id:", g.Id);
            table.AddRow("vm:", g.Vm);
            table.AddRow("path:", g.Path);
            table.AddRow("kind:", g.Kind);
            table.AddRow("rights:", g.Rights);
            table.AddRow("persistence:", g.Persistence);
            table.AddRow("source:", WithDetail(g.Source, g.SourceDetail));
            table.AddRow("parent:", g.Parent);
            table.AddRow("created:", Text.Time(g.CreatedAt));
            table.AddRow("expires:", Text.Expiry(g.ExpiresAt, s.Now));
            table.AddRow("state:", g.State);
            table.AddRow("ended:", Text.Time(g.EndedAt));
            table.AddRow("identity:", g.Identity is { } i ? $"dev {i.Dev} ino {i.Ino} handle {i.Handle ?? "-"}" : null);
            table.Write(s.Out, header: false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command WhoCanCommand(CliApp app)
    {
        var path = new Argument<string>("PATH") { Description = "Path relative to the tree" };
        var command = new Command("who-can", "Which VMs can reach PATH, with which rights, and why") { path };
        app.SetAction(command, async (s, p, ct) =>
        {
            var route = Session.Query(ApiRoutes.WhoCan, ("path", Checks.TreePath(p.GetValue(path)).Value));
            var result = await s.GetAsync(route, BrokerJson.Default.WhoCanResult, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(result, BrokerJson.Default.WhoCanResult);
                return ExitCodes.Ok;
            }

            if (result.Entries.Count == 0)
            {
                s.Out.WriteLine($"no VM can reach {result.Path}");
                return ExitCodes.Ok;
            }

            var table = new TableWriter("VM", "RIGHTS", "VIA", "GRANT", "SOURCE", "EXPIRES");
            foreach (var e in result.Entries)
            {
                table.AddRow(e.Vm, e.Rights, e.Via, e.GrantId, WithDetail(e.Source, e.SourceDetail), Text.Expiry(e.ExpiresAt, s.Now));
            }

            table.Write(s.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string WithDetail(string source, string? detail) =>
        string.IsNullOrEmpty(detail) ? source : $"{source} ({detail})";
}
