using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Spectrum.Broker.Contracts;

namespace Spectrum.Cli;

/// <summary>
/// One Spectrum CLI (<c>spectrum-grant</c>, <c>spectrum-vm</c>): the root command with the global
/// options, and the conventions every command follows. Parse errors and failures become one stderr
/// line, <c>TOOL: CAUSE; FIX</c>, and an exit code (0 ok, 1 refused or not found, 2 usage,
/// 3 broker unreachable); <c>--json</c> prints exactly one JSON document.
/// </summary>
public sealed class CliApp
{
    /// <summary>
    /// Creates the root command. <paramref name="summary"/> opens the help text and
    /// <paramref name="notes"/> (optional) goes after the shared paragraphs on the socket, the
    /// output and the exit codes.
    /// </summary>
    public CliApp(string name, string summary, string? notes, CliContext context)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(context);
        Name = name;
        Context = context;
        // RootCommand keeps its default directives ([suggest] for dotnet-suggest, [diagram]).
        Root = new RootCommand(About(name, summary, notes))
        {
            Socket,
            Json,
        };
    }

    /// <summary>The program name that starts every error line.</summary>
    public string Name { get; }

    public CliContext Context { get; }

    public RootCommand Root { get; }

    /// <summary>Global: the broker's control socket. Recursive, so it works before or after the command.</summary>
    public Option<string?> Socket { get; } = new("--socket")
    {
        Description = "The broker's control socket (default: $SPECTRUM_SOCKET, else /run/spectrum/broker.sock)",
        HelpName = "PATH",
        Recursive = true,
    };

    /// <summary>Global: print the result as one JSON document.</summary>
    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the result as one JSON document (the control API's shapes) and nothing else",
        Recursive = true,
    };

    /// <summary>Adds top-level commands.</summary>
    public CliApp Add(IEnumerable<Command> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        foreach (var command in commands)
        {
            Root.Subcommands.Add(command);
        }

        return this;
    }

    /// <summary>Parses and runs <paramref name="args"/>; never throws for bad input or broker failures.</summary>
    public async Task<int> RunAsync(string[] args, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        var parse = Root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            Fail(UsageLine(parse));
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(
                new InvocationConfiguration
                {
                    Output = Context.Stdout,
                    Error = Context.Stderr,
                    EnableDefaultExceptionHandler = false,
                },
                ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Fail("interrupted; run the command again");
            return ExitCodes.Refused;
        }
    }

    /// <summary>
    /// Gives <paramref name="command"/> an action that runs <paramref name="body"/> in a
    /// <see cref="Session"/> and turns failures into one stderr line and an exit code.
    /// </summary>
    public void SetAction(Command command, Func<Session, ParseResult, CancellationToken, Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(body);
        command.SetAction(async (parse, ct) =>
        {
            using var session = new Session(Context, parse.GetValue(Json), parse.GetValue(Socket));
            try
            {
                return await body(session, parse, ct).ConfigureAwait(false);
            }
            catch (CliException e)
            {
                Fail(e.Message);
                return e.ExitCode;
            }
            catch (BrokerClientException e)
            {
                Fail(e.Message);
                return e.Failure switch
                {
                    BrokerFailure.Unreachable => ExitCodes.Unreachable,
                    BrokerFailure.BadRequest => ExitCodes.Usage,
                    _ => ExitCodes.Refused,
                };
            }
            catch (System.Text.Json.JsonException e)
            {
                Fail($"the broker at {session.SocketPath} sent an answer this CLI cannot read ({e.Message}); use a {Name} of the same version as the broker");
                return ExitCodes.Refused;
            }
        });
    }

    /// <summary>Writes <c>TOOL: MESSAGE</c> as exactly one line.</summary>
    public void Fail(string message)
    {
        // Control characters (a newline in a path the user typed, say) are escaped, never printed.
        Context.Stderr.WriteLine($"{Name}: {Checks.Printable(message)}");
    }

    /// <summary>The help text: the tool's summary, the conventions all Spectrum CLIs share, the tool's notes, completion.</summary>
    private static string About(string name, string summary, string? notes)
    {
        var text = new System.Text.StringBuilder();
        text.Append(summary.Trim()).Append("\n\n");
        text.Append("""
            The broker is found at --socket, else $SPECTRUM_SOCKET, else /run/spectrum/broker.sock.
            A broker started from a checkout listens at <checkout>/.state/run/broker.sock: pass that.

            Output is aligned tables for people; --json prints exactly one JSON document (snake_case,
            the control API's own shapes) and nothing else on stdout.
            Errors are one stderr line. Exit codes: 0 ok, 1 refused or not found, 2 usage, 3 broker unreachable.
            """).Append("\n\n");
        if (!string.IsNullOrWhiteSpace(notes))
        {
            text.Append(notes.Trim()).Append("\n\n");
        }

        text.Append($$"""
            Shell completion: install dotnet-suggest (dotnet tool install -g dotnet-suggest), load its
            shell script, and run `dotnet-suggest register --command-path "$(command -v {{name}})"`;
            it asks this program through the [suggest] directive.
            """);
        return text.ToString();
    }

    /// <summary>
    /// System.CommandLine's parse errors as one line: the cause (the common ones reworded, the rest
    /// the library's first message) and the help command that shows the usage.
    /// </summary>
    private string UsageLine(ParseResult parse)
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
