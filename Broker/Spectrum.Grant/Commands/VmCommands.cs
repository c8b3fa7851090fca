using System.CommandLine;
using System.Globalization;
using Spectrum.Broker.Contracts;
using Spectrum.Cli;

namespace Spectrum.Grant.Commands;

/// <summary><c>vm list</c> and <c>status</c>.</summary>
internal static class VmCommands
{
    public static IEnumerable<Command> Build(CliApp app)
    {
        var vm = new Command("vm", "VMs the broker knows");
        var list = new Command("list", "List VMs declared in policies or named by a grant, and whether they run (start and stop them with spectrum-vm)");
        app.SetAction(list, async (s, _, ct) =>
        {
            var vms = await s.GetAsync(ApiRoutes.Vms, BrokerJson.Default.IReadOnlyListVmDto, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(vms, BrokerJson.Default.IReadOnlyListVmDto);
                return ExitCodes.Ok;
            }

            if (vms.Count == 0)
            {
                s.Out.WriteLine("no VMs");
                return ExitCodes.Ok;
            }

            var table = new TableWriter("NAME", "DECLARED", "POLICY", "STATE", "PID", "GRANTS");
            foreach (var v in vms)
            {
                table.AddRow(
                    v.Name, Text.YesNo(v.Declared), v.PolicyFile, v.State, v.Pid?.ToString(CultureInfo.InvariantCulture), v.Grants.ToString(CultureInfo.InvariantCulture));
            }

            table.Write(s.Out);
            return ExitCodes.Ok;
        });
        vm.Subcommands.Add(list);
        yield return vm;

        var status = new Command("status", "Show the broker's version, paths and counts");
        app.SetAction(status, async (s, _, ct) =>
        {
            var st = await s.GetAsync(ApiRoutes.Status, BrokerJson.Default.StatusDto, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(st, BrokerJson.Default.StatusDto);
                return ExitCodes.Ok;
            }

            var table = new TableWriter("KEY", "VALUE");
            table.AddRow("version:", st.Version);
            table.AddRow("socket:", st.Socket);
            table.AddRow("tree:", st.Tree);
            table.AddRow("state dir:", st.StateDir);
            table.AddRow("runtime dir:", st.RuntimeDir);
            table.AddRow("policies:", st.Policies);
            table.AddRow("schema:", st.SchemaVersion.ToString(CultureInfo.InvariantCulture));
            table.AddRow("key epoch:", st.KeyEpoch.ToString(CultureInfo.InvariantCulture));
            table.AddRow("active grants:", st.ActiveGrants.ToString(CultureInfo.InvariantCulture));
            table.AddRow("started:", $"{Text.Time(st.StartedAt)} ({Text.Relative(st.StartedAt, s.Now)})");
            table.Write(s.Out, header: false);
            return ExitCodes.Ok;
        });
        yield return status;
    }
}
