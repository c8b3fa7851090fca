namespace Spectrum.Broker.Hosting;

/// <summary>
/// Where the broker keeps things. Each is set, in order of precedence, by a flag, an environment
/// variable, <c>broker.toml</c>, or the default: in a checkout the embedded default (everything
/// under <c>.state/</c> in the checkout, a demo tree, the example policies), installed the system
/// paths of DESIGN.md.
/// </summary>
public sealed record BrokerPaths
{
    public required string Tree { get; init; }
    public required string StateDir { get; init; }
    public required string RuntimeDir { get; init; }
    public required string Policies { get; init; }
    public required string Socket { get; init; }

    /// <summary>True when the tree is the embedded demo tree (created on first start).</summary>
    public bool DemoTree { get; init; }

    public string Database => Path.Combine(StateDir, "broker.db");

    public string RootKey => Path.Combine(StateDir, "root.key");

    /// <summary>The checkout this binary was built in, or null when installed.</summary>
    public static string? FindCheckout(string? start = null)
    {
        for (var dir = new DirectoryInfo(start ?? AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Spectrum.sln")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>The policies directory alone: it must be known before broker.toml can be read.</summary>
    public static string ResolvePolicies(BrokerArgs args, Func<string, string?> env, string? checkout) =>
        Full(args.Policies ?? env("SPECTRUM_POLICIES") ?? (checkout is null ? "/etc/spectrum/policies" : Path.Combine(checkout, "policies")));

    /// <summary>Resolves every path from flags, environment, the policy's [broker] table and defaults.</summary>
    public static BrokerPaths Resolve(BrokerArgs args, Func<string, string?> env, Spectrum.Policy.BrokerPolicy policy, string policiesDir, string? checkout)
    {
        var embedded = checkout is null ? null : Path.Combine(checkout, ".state");
        var stateDir = args.StateDir ?? env("SPECTRUM_STATE_DIR") ?? policy.StateDir ?? (embedded is null ? "/var/lib/spectrum" : Path.Combine(embedded, "state"));
        var runtimeDir = args.RuntimeDir ?? env("SPECTRUM_RUNTIME_DIR") ?? policy.RuntimeDir ?? (embedded is null ? "/run/spectrum" : Path.Combine(embedded, "run"));
        var tree = args.Tree ?? env("SPECTRUM_TREE") ?? policy.Tree;
        var demo = false;
        if (tree is null)
        {
            if (embedded is null)
            {
                throw new State.BrokerStartupException("no tree is configured; give the user's data folder with --tree DIR, SPECTRUM_TREE or tree = \"...\" in broker.toml");
            }

            tree = Path.Combine(embedded, "tree");
            demo = true;
        }

        var socket = args.Socket ?? env("SPECTRUM_SOCKET") ?? policy.Socket ?? Path.Combine(Full(runtimeDir), "broker.sock");
        return new BrokerPaths
        {
            Tree = Full(tree),
            StateDir = Full(stateDir),
            RuntimeDir = Full(runtimeDir),
            Policies = policiesDir,
            Socket = Full(socket),
            DemoTree = demo,
        };
    }

    private static string Full(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
}

/// <summary>The daemon's command line: <c>spectrum-broker [--tree DIR] [--state-dir DIR] [--runtime-dir DIR] [--policies DIR] [--socket PATH]</c>.</summary>
public sealed record BrokerArgs
{
    public string? Tree { get; init; }
    public string? StateDir { get; init; }
    public string? RuntimeDir { get; init; }
    public string? Policies { get; init; }
    public string? Socket { get; init; }
    public bool Help { get; init; }

    public const string Usage =
        """
        usage: spectrum-broker [--tree DIR] [--state-dir DIR] [--runtime-dir DIR] [--policies DIR] [--socket PATH]

          --tree DIR         the global tree the broker owns        (SPECTRUM_TREE)
          --state-dir DIR    broker.db and root.key                 (SPECTRUM_STATE_DIR, default /var/lib/spectrum)
          --runtime-dir DIR  sockets and views                      (SPECTRUM_RUNTIME_DIR, default /run/spectrum)
          --policies DIR     broker.toml and vms/*.toml             (SPECTRUM_POLICIES, default /etc/spectrum/policies)
          --socket PATH      the control API socket                 (SPECTRUM_SOCKET, default RUNTIME_DIR/broker.sock)

        Run from a checkout with no configuration, everything defaults to .state/ in the checkout,
        with a demo tree and the example policies.
        """;

    /// <summary>Parses the flags; throws <see cref="ArgumentException"/> with a one-line message on a bad one.</summary>
    public static BrokerArgs Parse(IReadOnlyList<string> argv)
    {
        var args = new BrokerArgs();
        for (var i = 0; i < argv.Count; i++)
        {
            var arg = argv[i];
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                inline = arg[(eq + 1)..];
                arg = arg[..eq];
            }

            if (arg is "-h" or "--help")
            {
                args = args with { Help = true };
                continue;
            }

            string Value()
            {
                if (inline is not null)
                {
                    return inline.Length > 0 ? inline : throw new ArgumentException($"{arg} needs a value; see spectrum-broker --help");
                }

                return i + 1 < argv.Count && !argv[i + 1].StartsWith("--", StringComparison.Ordinal)
                    ? argv[++i]
                    : throw new ArgumentException($"{arg} needs a value; see spectrum-broker --help");
            }

            args = arg switch
            {
                "--tree" => args with { Tree = Value() },
                "--state-dir" => args with { StateDir = Value() },
                "--runtime-dir" => args with { RuntimeDir = Value() },
                "--policies" => args with { Policies = Value() },
                "--socket" => args with { Socket = Value() },
                _ => throw new ArgumentException($"unknown argument '{argv[i]}'; see spectrum-broker --help"),
            };
        }

        return args;
    }
}
