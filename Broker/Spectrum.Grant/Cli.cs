using Spectrum.Cli;
using Spectrum.Grant.Commands;

namespace Spectrum.Grant;

/// <summary>
/// The <c>spectrum-grant</c> admin CLI: parses the command line, runs the command against the
/// broker's control API, and maps every failure onto one stderr line and an exit code
/// (0 ok, 1 refused or not found, 2 usage, 3 broker unreachable); see <see cref="CliApp"/>.
/// </summary>
public static class Cli
{
    internal const string Name = "spectrum-grant";

    private const string Summary =
        "Grant, revoke, list and explain what each Spectrum VM can reach in the tree, and read the audit log.";

    private const string Notes = """
        Tokens on the command line are visible to other users in ps and stay in shell history:
        give TOKEN as - to read it from standard input instead.
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
        return app
            .Add(GrantCommands.Build(app))
            .Add(AuditCommands.Build(app))
            .Add(PolicyCommands.Build(app))
            .Add(TokenCommands.Build(app))
            .Add(VmCommands.Build(app));
    }
}
