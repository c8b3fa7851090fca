using System.Net.Sockets;
using Spectrum.Broker.Api;
using Spectrum.Broker.State;

namespace Spectrum.Broker.Hosting;

/// <summary>
/// Composition root of the daemon: resolves paths, opens the state (refusing anything doubtful),
/// reconciles the static policy, then serves the control API on its Unix socket.
/// </summary>
public static partial class BrokerHost
{
    /// <summary>Entry point of <c>spectrum-broker</c>: 0 after a clean shutdown, 1 when it cannot start, 2 on bad arguments.</summary>
    public static async Task<int> RunAsync(string[] argv)
    {
        BrokerArgs args;
        try
        {
            args = BrokerArgs.Parse(argv);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"spectrum-broker: {e.Message}").ConfigureAwait(false);
            return 2;
        }

        if (args.Help)
        {
            Console.WriteLine(BrokerArgs.Usage);
            return 0;
        }

        try
        {
            await using var app = Build(args, Environment.GetEnvironmentVariable, TimeProvider.System);
            await app.RunAsync().ConfigureAwait(false);
            return 0;
        }
        catch (BrokerStartupException e)
        {
            await Console.Error.WriteLineAsync($"spectrum-broker: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (Spectrum.Policy.PolicyException e)
        {
            await Console.Error.WriteLineAsync($"spectrum-broker: the policy is invalid, nothing was changed: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>Builds the broker; throws <see cref="BrokerStartupException"/> (or a policy error) when it must not start.</summary>
    public static WebApplication Build(BrokerArgs args, Func<string, string?> env, TimeProvider time, Action<ILoggingBuilder>? logging = null)
    {
        // Before anything is opened: the fd budgets (FdBudget) are fractions of this limit.
        var fdLimit = FdBudget.Initialize();
        var checkout = BrokerPaths.FindCheckout();
        var policiesDir = BrokerPaths.ResolvePolicies(args, env, checkout);
        var policy = Spectrum.Policy.PolicyLoader.Load(policiesDir);
        var paths = BrokerPaths.Resolve(args, env, policy.Broker, policiesDir, checkout);

        // The content root is the installation, not the working directory: a root daemon must not
        // take its configuration (appsettings.json: Kestrel endpoints, logging) from wherever it was
        // started, nor crash on a malformed file there, nor watch that directory tree for changes.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
        });
        builder.Host.UseSystemd();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
        {
            // One line per HTTP request is noise in the journal; the audit log records every decision.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }

        logging?.Invoke(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));

        var launcher = Vms.LauncherOptions.FromEnvironment(env);
        builder.Services.AddSingleton(sp => BrokerServices.Open(paths, policy, time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Spectrum.Broker"), launcher));
        builder.Services.AddSingleton(time);
        builder.Services.AddHostedService<ExpirySweeper>();
        builder.Services.AddHostedService<VmShutdown>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxConcurrentConnections = FdBudget.MaxConnections;
            k.Limits.MaxConcurrentUpgradedConnections = FdBudget.MaxConnections;
            k.ListenUnixSocket(paths.Socket, listen =>
            {
                var limiter = new ConnectionLimiter(listen.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Spectrum.Broker.Connections"));
                listen.Use(next => limiter.Wrap(next));
            });
        });
        PrepareSocket(paths.Socket);

        var app = builder.Build();
        BrokerServices services;
        try
        {
            // Opening the state here, not lazily, makes a refusal to start surface before the socket exists.
            services = app.Services.GetRequiredService<BrokerServices>();
        }
        catch
        {
            ((IDisposable)app).Dispose();
            throw;
        }

        ControlApi.Map(app, services);
        LogFdLimit(services.Logger, fdLimit.Soft, fdLimit.Hard, FdBudget.TotalNodeFds, FdBudget.TotalHandles, FdBudget.TotalDirStreams, FdBudget.MaxConnectionsPerUid, FdBudget.MaxConnections);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            // Anyone may connect: authorization is by SO_PEERCRED on each call, and refusals are audited.
            File.SetUnixFileMode(paths.Socket, (UnixFileMode)0b110_110_110);
            services.StartViews();
            LogReady(services.Logger, paths.Socket, paths.Tree, paths.StateDir, paths.Policies);
        });
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            services.Dispose();
            TryDelete(paths.Socket);
        });
        return app;
    }

    /// <summary>Removes a stale socket left by a killed broker; refuses when another broker still answers on it.</summary>
    private static void PrepareSocket(string socket)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(socket)!);
        if (!File.Exists(socket) && !Directory.Exists(socket))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(socket));
        }
        catch (SocketException)
        {
            File.Delete(socket);
            return;
        }

        throw new BrokerStartupException($"another broker is already listening on {socket}; stop it first, or give this one another --socket and --state-dir");
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Left for the next start to clean up.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "File descriptor limit {Soft} (hard {Hard}); view budgets: {NodeFds} node fds, {Handles} handles, {DirStreams} directory streams; control connections: {PerUid} per uid, {Total} in all")]
    private static partial void LogFdLimit(ILogger logger, ulong soft, ulong hard, int nodeFds, int handles, int dirStreams, int perUid, int total);

    private static void LogReady(ILogger logger, string socket, string tree, string stateDir, string policies) =>
        logger.LogInformation("Broker ready on {Socket}; tree {Tree}, state {StateDir}, policies {Policies}", socket, tree, stateDir, policies);
}
