using Dapper;
using Spectrum.Broker.Contracts;
using Spectrum.Broker.Grants;
using Spectrum.Broker.State;

namespace Spectrum.Broker.Hosting;

/// <summary>Options that come from broker.toml, validated by the policy loader.</summary>
public sealed record BrokerOptions(TimeSpan ExpirySweep, TimeSpan DenyInterval, uint GuestUid, uint GuestGid);

/// <summary>Everything the daemon holds open, built once at start in the order that keeps state safe.</summary>
public sealed class BrokerServices : IDisposable
{
    private readonly FileStream _lock;
    private TaskCompletionSource _expiryChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BrokerServices(BrokerPaths paths, BrokerOptions options, FileStream stateLock, TreeRoot tree, BrokerStore store, TimeProvider time, ILogger logger)
    {
        Paths = paths;
        Options = options;
        _lock = stateLock;
        Tree = tree;
        Store = store;
        Time = time;
        Logger = logger;
        Grants = new GrantService(store, tree);
        Audit = new AuditLog(store);
        Denials = new DenialAggregator(store, time, options.DenyInterval, logger);
        StartedAt = time.GetUtcNow();
        Tokens = null!;
        Policy = null!;
        Vms = null!;
        Portal = null!;
    }

    public BrokerPaths Paths { get; }
    public BrokerOptions Options { get; }
    public TreeRoot Tree { get; }
    public BrokerStore Store { get; }
    public TimeProvider Time { get; }
    public ILogger Logger { get; }
    public GrantService Grants { get; }
    public AuditLog Audit { get; }

    /// <summary>Where refusals (data path and control API) are counted into bounded <c>deny</c> records.</summary>
    internal DenialAggregator Denials { get; }
    public TokenService Tokens { get; private set; }
    public PolicyService Policy { get; private set; }

    /// <summary>The running guests.</summary>
    internal Vms.VmService Vms { get; private set; }

    /// <summary>The per-VM portal channels and the host file dialog they lead to.</summary>
    internal Portal.PortalService Portal { get; private set; }

    /// <summary>The per-VM views; mounted by <see cref="StartViews"/>.</summary>
    internal Views.ViewManager? Views { get; private set; }
    public DateTimeOffset StartedAt { get; }

    /// <summary>Completes when a grant with an expiry was added, so the sweeper recomputes its wait.</summary>
    public Task ExpiryChanged => _expiryChanged.Task;

    /// <summary>Opens the state (lock, key, database), then reconciles the static policy.</summary>
    public static BrokerServices Open(BrokerPaths paths, Spectrum.Policy.PolicySet policy, TimeProvider time, ILogger logger, Vms.LauncherOptions? launcher = null)
    {
        EnsurePrivateStateDir(paths.StateDir);
        // 0711 when made here: the control socket is reached by path, the folder is not listed (views live in vm/, 0700).
        Directory.CreateDirectory(paths.RuntimeDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        var stateLock = LockState(paths.StateDir);
        try
        {
            if (paths.DemoTree)
            {
                DemoTree.EnsureExists(paths.Tree);
            }

            if (!Directory.Exists(paths.Tree))
            {
                throw new BrokerStartupException($"the tree {paths.Tree} does not exist; create it, or point --tree at the user's data folder");
            }

            var keyExists = File.Exists(paths.RootKey);
            var dbExists = File.Exists(paths.Database);
            if (!keyExists && dbExists)
            {
                throw new BrokerStartupException($"the root key {paths.RootKey} is missing but {paths.Database} holds state; restore root.key from a backup (a new key would silently invalidate every token)");
            }

            var database = BrokerDatabase.Open(paths.Database, mayCreate: !keyExists);
            var keys = keyExists ? RootKeyFile.Load(paths.RootKey) : RootKeyFile.Create(paths.RootKey);
            var store = new BrokerStore(database, time);
            var tree = new TreeRoot(paths.Tree);
            var b = policy.Broker;
            var options = new BrokerOptions(b.ExpirySweep, b.DenyInterval, (uint)b.GuestUid, (uint)b.GuestGid);
            var services = new BrokerServices(paths, options, stateLock, tree, store, time, logger);
            services.Tokens = new TokenService(services, keys);
            services.Policy = new PolicyService(services, policy);
            services.Policy.ApplyAtStart();
            services.Portal = new Spectrum.Broker.Portal.PortalService(services, Spectrum.Broker.Portal.Dialog.HostDialogs.Create(policy.Broker, logger));
            services.Vms = new Vms.VmService(services, launcher ?? new Vms.LauncherOptions());
            services.Vms.RecoverAfterCrash();
            return services;
        }
        catch
        {
            stateLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates the state folder 0700, or refuses one that already exists and that another uid can
    /// enter or that the broker does not own: broker.db holds every grant and audit record, and a
    /// 0755 folder let any local user read them with sqlite3 (issue 14, item 8). Checked before
    /// anything is written into the folder, so a refused start changes nothing.
    /// </summary>
    internal static void EnsurePrivateStateDir(string stateDir)
    {
        if (!Directory.Exists(stateDir))
        {
            Directory.CreateDirectory(stateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var stat = Spectrum.Interop.Files.Stat(stateDir);
        var euid = Spectrum.Interop.Files.EffectiveUid;
        if (stat.Uid != euid)
        {
            throw new BrokerStartupException($"the state folder {stateDir} belongs to uid {stat.Uid}, not to the broker's uid {euid}; run `chown {euid} {stateDir}` and `chmod 700 {stateDir}`, or give another --state-dir");
        }

        if ((stat.Mode & 0b000_111_111) != 0)
        {
            throw new BrokerStartupException($"the state folder {stateDir} is open to other users (mode {Convert.ToString((int)(stat.Mode & 0xFFF), 8)}), who could read every grant and audit record; run `chmod 700 {stateDir}`");
        }
    }

    /// <summary>One broker per state folder: a second one would fork the audit chain.</summary>
    private static FileStream LockState(string stateDir)
    {
        var path = Path.Combine(stateDir, "broker.lock");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new BrokerStartupException($"another broker is using the state folder {stateDir} (it holds {path}); stop it first, or give this one another --state-dir");
        }
    }

    /// <summary>Creates a grant (and a token for it when asked) for the control API.</summary>
    public async Task<GrantCreated> GrantAsync(string actor, GrantRequest request, CancellationToken ct)
    {
        var row = await Grants.GrantAsync(actor, new GrantSpec
        {
            Vm = request.Vm,
            Path = request.Path,
            Rights = request.Rights,
            Expires = request.Expires,
            Session = request.Session,
            Source = GrantSources.Cli,
            SourceDetail = actor,
        }, ct).ConfigureAwait(false);
        if (row.ExpiresAt is not null)
        {
            SignalExpiryChanged();
        }

        return new GrantCreated { Grant = Api.DtoMapping.ToDto(row), Token = request.Token ? Tokens.Mint(row) : null };
    }

    public void SignalExpiryChanged() =>
        Interlocked.Exchange(ref _expiryChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>The earliest expiry among active grants.</summary>
    public long? NextExpiryMs()
    {
        using var connection = Store.Read();
        return connection.ExecuteScalar<long?>("SELECT min(expires_at) FROM grants WHERE state = 'active' AND expires_at IS NOT NULL");
    }

    public StatusDto Status() => new()
    {
        Version = typeof(BrokerServices).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
        Tree = Paths.Tree,
        StateDir = Paths.StateDir,
        RuntimeDir = Paths.RuntimeDir,
        Policies = Paths.Policies,
        Socket = Paths.Socket,
        SchemaVersion = BrokerDatabase.SchemaVersion,
        KeyEpoch = Tokens.CurrentEpoch,
        ActiveGrants = Grants.CountLive(),
        StartedAt = StartedAt,
    };

    /// <summary>Mounts a view for every known VM (as root, or with fusermount3) and keeps them in step with the grants.</summary>
    public void StartViews()
    {
        Views = new Views.ViewManager(this);
        Views.Start();
    }

    public void Dispose()
    {
        // Channels first: closing them closes the host dialogs they still have open.
        Portal?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Views?.Dispose();
        Tokens?.Dispose();
        Denials.Dispose();
        Store.Dispose();
        Tree.Dispose();
        _lock.Dispose();
    }
}
