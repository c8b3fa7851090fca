namespace Spectrum.Bench;

/// <summary>The common entry of the root subcommands that boot guests (<c>guest-io</c>, <c>launcher</c>).</summary>
internal static class BenchCommand
{
    /// <summary>
    /// Parses the options (a bad one: the message and the usage, exit 2), prints the usage for
    /// --help, turns Ctrl-C into cancellation (so that the run stops its guest and unmounts its view
    /// rather than die with them in place), and runs: a failure <paramref name="isFailure"/> accepts
    /// is one line "name: message" and exit 1, an interrupt exit 130.
    /// </summary>
    public static async Task<int> RunAsync<TOptions>(
        string name,
        string usage,
        string[] args,
        Func<string[], TOptions> parse,
        Func<TOptions, bool> help,
        Func<Exception, bool> isFailure,
        Func<TOptions, CancellationToken, Task<int>> run)
    {
        TOptions options;
        try
        {
            options = parse(args.Skip(1).ToArray());
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"{name}: {e.Message}\n{usage}");
            return 2;
        }

        if (help(options))
        {
            Console.WriteLine(usage);
            return 0;
        }

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        try
        {
            return await run(options, cancel.Token);
        }
        catch (Exception e) when (isFailure(e))
        {
            await Console.Error.WriteLineAsync($"{name}: {e.Message}");
            return 1;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"{name}: interrupted");
            return 130;
        }
    }
}
