using Spectrum.Cli;

namespace Spectrum.Vm;

/// <summary>
/// The <c>spectrum-vm</c> CLI: start, stop and list the VMs the broker launches, and open a path
/// of the tree in one (a session grant, then a start). Same conventions as <c>spectrum-grant</c>
/// (one stderr line per failure; exit 0 ok, 1 refused or not found, 2 usage, 3 broker
/// unreachable); see <see cref="CliApp"/>.
/// </summary>
public static class Cli
{
    internal const string Name = "spectrum-vm";

    private const string Summary =
        "Start, stop and list the Spectrum VMs the broker launches, and open a file or directory of the tree in one.";

    private const string Notes = """
        run, stop and open are idempotent and wait for the broker: run and open until the VMM runs
        and the guest was told to boot (up to 120s), stop until the VMM and its virtiofsd are gone
        (up to --timeout plus 60s). Session grants, open's among them, end when the VM stops.
        """;

    /// <summary>Runs the CLI with the process's environment, standard input and clock.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, IDictionary<string, string?>? env = null) =>
        RunAsync(args, new CliContext(stdout, stderr, env));

    /// <summary>Runs the CLI in <paramref name="context"/>; never throws for bad input or broker failures.</summary>
    public static Task<int> RunAsync(string[] args, CliContext context, CancellationToken ct = default) =>
        Build(context).RunAsync(args, ct);

    /// <summary>The command tree. Global options are recursive, so they work before or after the command.</summary>
    internal static CliApp Build(CliContext context)
    {
        var app = new CliApp(Name, Summary, Notes, context);
        return app.Add(VmCommands.Build(app));
    }
}
