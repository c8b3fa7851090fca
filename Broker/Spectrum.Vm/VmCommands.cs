using System.CommandLine;
using System.CommandLine.Completions;
using System.Globalization;
using Spectrum.Broker.Contracts;
using Spectrum.Capabilities;
using Spectrum.Cli;

namespace Spectrum.Vm;

/// <summary><c>run</c>, <c>stop</c>, <c>list</c> and <c>open</c>.</summary>
internal static class VmCommands
{
    /// <summary>The graceful shutdown wait when <c>--timeout</c> is not given (the broker's default too).</summary>
    public const double DefaultStopTimeoutSeconds = 10;

    /// <summary>The largest <c>--timeout</c>: an hour is already far past any shutdown worth waiting for.</summary>
    public const double MaxStopTimeoutSeconds = 3600;

    /// <summary>
    /// How long run and open wait for the broker's answer: it answers once the VMM runs and the guest
    /// was told to boot, which includes starting virtiofsd and, under TCG, a slow VMM start.
    /// </summary>
    public static readonly TimeSpan BootWait = TimeSpan.FromSeconds(120);

    /// <summary>
    /// What stop waits beyond its <c>--timeout</c>: after the graceful wait the broker kills the VMM
    /// and waits for it and virtiofsd to exit, then revokes the session grants.
    /// </summary>
    public static readonly TimeSpan StopMargin = TimeSpan.FromSeconds(60);

    /// <summary>How long stop waits for the broker's answer when the graceful wait is <paramref name="timeoutSeconds"/>.</summary>
    internal static TimeSpan StopWait(double timeoutSeconds) => TimeSpan.FromSeconds(timeoutSeconds) + StopMargin;

    /// <summary>How long shell completion waits for the broker's VM list before offering nothing.</summary>
    private static readonly TimeSpan CompletionWait = TimeSpan.FromSeconds(2);

    public static IEnumerable<Command> Build(CliApp app)
    {
        yield return RunCommand(app);
        yield return StopCommand(app);
        yield return ListCommand(app);
        yield return OpenCommand(app);
    }

    private static Command RunCommand(CliApp app)
    {
        var vm = VmArgument(app, "The VM to start, as its policy file names it (policies/vms/VM.toml)");
        var command = new Command("run", "Start a VM, unless it runs already; returns once the guest was told to boot") { vm };
        app.SetAction(command, async (s, p, ct) =>
        {
            var name = Checks.VmName(p.GetValue(vm));
            s.WaitAtLeast(BootWait);
            var result = await WaitForAsync(s, $"starting {name}", () =>
                s.Broker.SendAsync(HttpMethod.Post, ApiRoutes.VmRun(name), BrokerJson.Default.VmRunResult, ct)).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(result, BrokerJson.Default.VmRunResult);
                return ExitCodes.Ok;
            }

            s.Out.WriteLine(StateLine(result.Vm, result.AlreadyRunning));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command StopCommand(CliApp app)
    {
        var vm = VmArgument(app, "The VM to stop");
        var timeout = new Option<string?>("--timeout")
        {
            Description = string.Create(
                CultureInfo.InvariantCulture,
                $"Seconds to wait for a graceful shutdown before the VMM is killed (default {DefaultStopTimeoutSeconds}, at most {MaxStopTimeoutSeconds})"),
            HelpName = "SECONDS",
        };
        var command = new Command("stop", "Stop a VM: shut it down gracefully, kill it after --timeout; its session grants end") { vm, timeout };
        app.SetAction(command, async (s, p, ct) =>
        {
            var name = Checks.VmName(p.GetValue(vm));
            var seconds = p.GetValue(timeout) is { } t ? StopTimeout(t) : DefaultStopTimeoutSeconds;
            s.WaitAtLeast(StopWait(seconds));
            var request = new VmStopRequest { TimeoutSeconds = seconds };
            var result = await WaitForAsync(s, $"stopping {name}", () =>
                s.PostAsync(ApiRoutes.VmStop(name), request, BrokerJson.Default.VmStopRequest, BrokerJson.Default.VmStopResult, ct)).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(result, BrokerJson.Default.VmStopResult);
                return ExitCodes.Ok;
            }

            s.Out.WriteLine(StopLine(result, seconds));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command ListCommand(CliApp app)
    {
        var command = new Command("list", "List the VMs the broker knows, whether they run, and their grants");
        app.SetAction(command, async (s, _, ct) =>
        {
            var vms = await s.GetAsync(ApiRoutes.Vms, BrokerJson.Default.IReadOnlyListVmDto, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(vms, BrokerJson.Default.IReadOnlyListVmDto);
                return ExitCodes.Ok;
            }

            if (vms.Count == 0)
            {
                s.Out.WriteLine("no VMs; declare one in the broker's policies/vms/VM.toml");
                return ExitCodes.Ok;
            }

            var table = new TableWriter("NAME", "STATE", "VMM", "PID", "UPTIME", "GRANTS");
            foreach (var v in vms)
            {
                table.AddRow(v.Name, v.State, v.Vmm, v.Pid?.ToString(CultureInfo.InvariantCulture), Uptime(v), v.Grants.ToString(CultureInfo.InvariantCulture));
            }

            table.Write(s.Out);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command OpenCommand(CliApp app)
    {
        var vm = VmArgument(app, "The VM to open PATH in; started if it does not run");
        var path = new Argument<string>("PATH") { Description = "Path relative to the tree (. for the whole tree); directories cover their subtree" };
        var rights = new Option<string?>("--rights")
        {
            Description = "ro (default), rw, or a comma list of read, write, create, delete, rename, setattr, grant",
            HelpName = "RIGHTS",
        };
        rights.CompletionSources.Add(_ => [new CompletionItem("ro"), new CompletionItem("rw")]);
        var command = new Command("open", "Grant a VM PATH until it stops (a session grant), then start it unless it runs") { vm, path, rights };
        app.SetAction(command, async (s, p, ct) =>
        {
            var name = Checks.VmName(p.GetValue(vm));
            var rightsText = p.GetValue(rights);
            var request = new VmOpenRequest
            {
                Path = Checks.TreePath(p.GetValue(path)).Value,
                Rights = rightsText is null ? null : RightsText.Format(Checks.Rights(rightsText)),
            };
            s.WaitAtLeast(BootWait);
            var result = await WaitForAsync(s, $"opening {request.Path} in {name}", () =>
                s.PostAsync(ApiRoutes.VmOpen(name), request, BrokerJson.Default.VmOpenRequest, BrokerJson.Default.VmOpenResult, ct)).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(result, BrokerJson.Default.VmOpenResult);
                return ExitCodes.Ok;
            }

            s.Out.WriteLine(Text.Granted(result.Grant, s.Now));
            s.Out.WriteLine(StateLine(result.Vm, result.AlreadyRunning));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A VM argument that completes to the names the broker knows.</summary>
    private static Argument<string> VmArgument(CliApp app, string description)
    {
        var vm = new Argument<string>("VM") { Description = description };
        vm.CompletionSources.Add(c =>
        {
            // Completion must never fail or hang the shell: no broker, no names.
            using var session = new Session(app.Context, json: false, c.ParseResult.GetValue(app.Socket));
            using var broker = new BrokerClient(session.SocketPath, CompletionWait);
            try
            {
                var vms = broker.SendAsync(HttpMethod.Get, ApiRoutes.Vms, BrokerJson.Default.IReadOnlyListVmDto).GetAwaiter().GetResult();
                return vms.Select(v => new CompletionItem(v.Name));
            }
            catch (Exception e) when (e is BrokerClientException or System.Text.Json.JsonException)
            {
                return [];
            }
        });
        return vm;
    }

    /// <summary><c>--timeout</c>: a positive number of seconds, at most <see cref="MaxStopTimeoutSeconds"/>.</summary>
    internal static double StopTimeout(string text)
    {
        if (double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds)
            && seconds > 0 && seconds <= MaxStopTimeoutSeconds)
        {
            return seconds;
        }

        throw CliException.Usage(string.Create(
            CultureInfo.InvariantCulture,
            $"bad --timeout '{Checks.Printable(text)}'; give a positive number of seconds up to {MaxStopTimeoutSeconds}, such as 30 or 2.5"));
    }

    /// <summary>
    /// Runs a call that waits for a VM, and words a timeout as what it is: the broker is alive but
    /// the VM has not finished, so the user should look before trying again.
    /// </summary>
    internal static async Task<T> WaitForAsync<T>(Session s, string what, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (BrokerClientException e) when (e.Failure == BrokerFailure.Unreachable && e.InnerException is TaskCanceledException)
        {
            throw new CliException(
                ExitCodes.Unreachable,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"the broker at {s.SocketPath} did not answer within {s.Timeout.TotalSeconds:0}s while {what}; it may still be at it: check `spectrum-vm list`, and the broker's log (journalctl -u spectrum-broker) for what holds it up"));
        }
    }

    /// <summary><c>editor: running (pid 1234)</c>, <c>editor: already running (pid 1234, up 3m)</c>.</summary>
    internal static string StateLine(VmDto vm, bool alreadyRunning)
    {
        var details = new List<string>(2);
        if (vm.Pid is { } pid)
        {
            details.Add(string.Create(CultureInfo.InvariantCulture, $"pid {pid}"));
        }

        if (alreadyRunning && Uptime(vm) is { } up)
        {
            details.Add($"up {up}");
        }

        var line = $"{vm.Name}: {(alreadyRunning ? "already " : "")}{vm.State}";
        return details.Count == 0 ? line : $"{line} ({string.Join(", ", details)})";
    }

    /// <summary>
    /// <c>editor: stopped gracefully; revoked 2 session grants</c>, or
    /// <c>editor: not running; nothing to stop</c>.
    /// </summary>
    internal static string StopLine(VmStopResult result, double timeoutSeconds)
    {
        var name = result.Vm.Name;
        var revoked = result.SessionGrantsRevoked == 0
            ? "no session grants to revoke"
            : "revoked " + Text.Count(result.SessionGrantsRevoked, "session grant", "session grants");
        if (!result.WasRunning)
        {
            return result.SessionGrantsRevoked == 0 ? $"{name}: not running; nothing to stop" : $"{name}: not running; {revoked}";
        }

        var how = result.Exit switch
        {
            VmExitReasons.Stopped => "stopped gracefully",
            VmExitReasons.Killed => string.Create(CultureInfo.InvariantCulture, $"killed: it did not shut down within {timeoutSeconds}s"),
            VmExitReasons.Poweroff => "stopped: the guest had powered itself off",
            VmExitReasons.Crashed => "stopped: its VMM or virtiofsd had crashed (see the broker's log)",
            null => "stopped",
            var other => $"stopped ({other})",
        };
        return $"{name}: {how}; {revoked}";
    }

    /// <summary>The broker's uptime in two units (<c>3m</c>, <c>1h5m</c>), or null when the VM does not run.</summary>
    private static string? Uptime(VmDto vm) =>
        vm.UptimeSeconds is { } seconds && seconds >= 0
            ? Text.Span(TimeSpan.FromSeconds(Math.Min(seconds, int.MaxValue)))
            : null;
}
