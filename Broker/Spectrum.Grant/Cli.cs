using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Spectrum.Broker.Contracts;
using Spectrum.Grant.Commands;

namespace Spectrum.Grant;

/// <summary>
/// The <c>spectrum-grant</c> admin CLI: parses the command line, runs the command against the
/// broker's control API, and maps every failure onto one stderr line and an exit code
/// (0 ok, 1 refused or not found, 2 usage, 3 broker unreachable).
/// </summary>
public static class Cli
{
    internal const string Name = "spectrum-grant";

    private const string About = """
        Grant, revoke, list and explain what each Spectrum VM can reach in the tree, and read the audit log.

        The broker is found at --socket, else $SPECTRUM_SOCKET, else /run/spectrum/broker.sock.
        A broker started from a checkout listens at <checkout>/.state/run/broker.sock: pass that.

        Output is aligned tables for people; --json prints exactly one JSON document (snake_case,
        the control API's own shapes) and nothing else on stdout.
        Errors are one stderr line. Exit codes: 0 ok, 1 refused or not found, 2 usage, 3 broker unreachable.

        Tokens on the command line are visible to other users in ps and stay in shell history:
        give TOKEN as - to read it from standard input instead.

        Shell completion: install dotnet-suggest (dotnet tool install -g dotnet-suggest), load its
        shell script, and run `dotnet-suggest register --command-path "$(command -v spectrum-grant)"`;
        it asks this program through the [suggest] directive.
        """;

    /// <summary>Runs the CLI with the process's environment, standard input and clock.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, IDictionary<string, string?>? env = null) =>
        RunAsync(args, new CliContext(stdout, stderr, env));

    /// <summary>Runs the CLI in <paramref name="context"/>; never throws for bad input or broker failures.</summary>
    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        var root = Build(context);
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            Fail(context, UsageLine(parse));
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(
                new InvocationConfiguration
                {
                    Output = context.Stdout,
                    Error = context.Stderr,
                    EnableDefaultExceptionHandler = false,
                },
                ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Fail(context, "interrupted; run the command again");
            return ExitCodes.Refused;
        }
    }

    /// <summary>The command tree. Global options are recursive, so they work before or after the command.</summary>
    internal static RootCommand Build(CliContext context)
    {
        var globals = new Globals();
        var root = new RootCommand(About)
        {
            globals.Socket,
            globals.Json,
        };

        // RootCommand keeps its default directives ([suggest] for dotnet-suggest, [diagram]).
        foreach (var command in GrantCommands.Build(globals, context)
                     .Concat(AuditCommands.Build(globals, context))
                     .Concat(PolicyCommands.Build(globals, context))
                     .Concat(TokenCommands.Build(globals, context))
                     .Concat(VmCommands.Build(globals, context)))
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>
    /// Gives <paramref name="command"/> an action that runs <paramref name="body"/> in a
    /// <see cref="Session"/> and turns failures into one stderr line and an exit code.
    /// </summary>
    internal static void SetAction(Command command, Globals globals, CliContext context, Func<Session, ParseResult, CancellationToken, Task<int>> body)
    {
        command.SetAction(async (parse, ct) =>
        {
            using var session = new Session(context, parse.GetValue(globals.Json), parse.GetValue(globals.Socket));
            try
            {
                return await body(session, parse, ct).ConfigureAwait(false);
            }
            catch (CliException e)
            {
                Fail(context, e.Message);
                return e.ExitCode;
            }
            catch (BrokerClientException e)
            {
                Fail(context, e.Message);
                return e.Failure switch
                {
                    BrokerFailure.Unreachable => ExitCodes.Unreachable,
                    BrokerFailure.BadRequest => ExitCodes.Usage,
                    _ => ExitCodes.Refused,
                };
            }
            catch (System.Text.Json.JsonException e)
            {
                Fail(context, $"the broker at {session.SocketPath} sent an answer this CLI cannot read ({e.Message}); use a spectrum-grant of the same version as the broker");
                return ExitCodes.Refused;
            }
        });
    }

    /// <summary>Writes <c>spectrum-grant: MESSAGE</c> as exactly one line.</summary>
    internal static void Fail(CliContext context, string message)
    {
        // Control characters (a newline in a path the user typed, say) are escaped, never printed.
        context.Stderr.WriteLine($"{Name}: {Checks.Printable(message)}");
    }

    /// <summary>
    /// System.CommandLine's parse errors as one line: the cause (the common ones reworded, the rest
    /// the library's first message) and the help command that shows the usage.
    /// </summary>
    private static string UsageLine(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var path = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                path.Insert(0, c.Command is RootCommand ? Name : c.Command.Name);
            }
        }

        var fix = $"run `{string.Join(' ', path)} --help` for usage";
        string cause;
        if (parse.UnmatchedTokens.Count > 0)
        {
            var token = parse.UnmatchedTokens[0];
            var kind = token.StartsWith('-') ? "option" : command.Subcommands.Count > 0 ? "command" : "argument";
            cause = $"unknown {kind} '{token}' for {string.Join(' ', path)}";
            var candidates = token.StartsWith('-')
                ? command.Options.SelectMany(o => o.Aliases.Prepend(o.Name))
                : command.Subcommands.Select(c => c.Name);
            if (Closest(token, candidates) is { } guess)
            {
                fix = $"did you mean '{guess}'? {fix}";
            }
        }
        else if (parse.Tokens.Count == 0 || (command.Action is null && command.Subcommands.Count > 0))
        {
            cause = parse.Tokens.Count == 0
                ? "no command given"
                : $"{string.Join(' ', path)} needs a subcommand: {string.Join(", ", command.Subcommands.Select(c => c.Name))}";
        }
        else if (parse.Errors.FirstOrDefault(e => e.SymbolResult is OptionResult { Tokens.Count: 0 }) is { SymbolResult: OptionResult option })
        {
            cause = $"{option.IdentifierToken?.Value ?? option.Option.Name} needs a value";
        }
        else if (command.Arguments.FirstOrDefault(a => a.Arity.MinimumNumberOfValues > 0 && (parse.GetResult(a) is not ArgumentResult r || r.Tokens.Count == 0)) is { } missing)
        {
            cause = $"missing {missing.Name} for {string.Join(' ', path)}";
        }
        else
        {
            cause = parse.Errors.Count > 0 ? parse.Errors[0].Message.Trim().TrimEnd('.') : "invalid command line";
            if (cause.Length > 0)
            {
                cause = char.ToLowerInvariant(cause[0]) + cause[1..];
            }
        }

        return $"{cause}; {fix}";
    }

    /// <summary>The candidate within edit distance 2 of <paramref name="typed"/>, for "did you mean".</summary>
    private static string? Closest(string typed, IEnumerable<string> candidates) =>
        candidates
            .Select(c => (Name: c, Distance: Distance(typed, c)))
            .Where(c => c.Distance <= 2)
            .OrderBy(c => c.Distance)
            .Select(c => c.Name)
            .FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}

/// <summary>The options every command accepts, before or after its name.</summary>
internal sealed class Globals
{
    public Option<string?> Socket { get; } = new("--socket")
    {
        Description = "The broker's control socket (default: $SPECTRUM_SOCKET, else /run/spectrum/broker.sock)",
        HelpName = "PATH",
        Recursive = true,
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the result as one JSON document (the control API's shapes) and nothing else",
        Recursive = true,
    };
}
