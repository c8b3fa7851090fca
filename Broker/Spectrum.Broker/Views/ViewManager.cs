using System.Text;
using Dapper;
using Spectrum.Broker.Grants;
using Spectrum.Broker.Hosting;
using Spectrum.Broker.State;
using Spectrum.Capabilities;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// One FUSE view per known VM at <c>$RUNTIME/vm/&lt;vm&gt;/view</c>, while the broker runs. A grant
/// change recompiles the VM's table right after its transaction commits: ended grants are marked
/// (open handles fail their next operation) and the kernel's caches are invalidated by notify;
/// new grants invalidate the negative entries that hid them.
/// </summary>
internal sealed partial class ViewManager : IViewHost, IDisposable
{
    private readonly BrokerServices _services;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, View> _views = new(StringComparer.Ordinal);
    private readonly HashSet<string> _staleReported = new(StringComparer.Ordinal);

    /// <summary>
    /// The clock every view's grants expire by: the store's, which never goes back behind a time it
    /// has written, so that a view refuses a grant at the very moment the store counts it expired
    /// (before the expiry sweep has written it). One delegate for all: reading it allocates nothing.
    /// </summary>
    private readonly Func<long> _nowMs;
    private bool _disposed;

    private sealed record View(ViewFileSystem FileSystem, FuseSession Session, string MountPoint, Dictionary<string, ViewGrant> Grants, ViewCallers Callers);

    /// <summary>What all views together may hold (see <see cref="ViewBudget"/>), from <see cref="FdBudget"/>.</summary>
    public ViewBudget Budget { get; }

    /// <summary>What each view may hold, from <see cref="FdBudget"/>.</summary>
    public ViewLimits Limits { get; }

    public ViewManager(BrokerServices services)
    {
        _services = services;
        _nowMs = () => _services.Store.NowMs;
        var treeStat = Files.Stat(services.Tree.Fd);
        Tree = new TreeRootInfo(services.Tree.Fd, treeStat.Uid, treeStat.Gid);
        Budget = new ViewBudget(FdBudget.TotalNodeFds, FdBudget.TotalHandles, FdBudget.TotalDirStreams);
        Limits = new ViewLimits(FdBudget.PerVmNodeFds, FdBudget.PerVmHandles, FdBudget.PerVmDirStreams);
    }

    /// <summary>Lets the device backend <paramref name="pid"/> (the VM's virtiofsd) use the VM's view.</summary>
    public void AllowBackend(string vm, int pid) => CallersOf(vm)?.Allow(pid);

    /// <summary>Shuts an exited backend out of the VM's view (its pid may be reused by anyone).</summary>
    public void DisallowBackend(string vm, int pid) => CallersOf(vm)?.Disallow(pid);

    private ViewCallers? CallersOf(string vm)
    {
        lock (_lock)
        {
            return _views.TryGetValue(vm, out var view) ? view.Callers : null;
        }
    }

    public TreeRootInfo Tree { get; }

    /// <summary>Mounts a view for every VM the broker knows and follows grant changes from now on.</summary>
    public void Start()
    {
        _services.Store.GrantsChanged += OnGrantsChanged;
        foreach (var vm in _services.Grants.Vms())
        {
            TryEnsure(vm.Name);
        }
    }

    /// <summary>The mount point of a VM's view.</summary>
    public string MountPoint(string vm) => Path.Combine(_services.Paths.RuntimeDir, "vm", vm, "view");

    /// <summary>The mounted view of <paramref name="vm"/>, if any: its filesystem and FUSE session (for tests and diagnostics).</summary>
    internal (ViewFileSystem FileSystem, FuseSession Session)? Find(string vm)
    {
        lock (_lock)
        {
            return _views.TryGetValue(vm, out var view) ? (view.FileSystem, view.Session) : null;
        }
    }

    private void TryEnsure(string vm)
    {
        try
        {
            Ensure(vm);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            LogViewFailed(_services.Logger, vm, e);
        }
    }

    private View Ensure(string vm)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_views.TryGetValue(vm, out var existing))
            {
                return existing;
            }

            var mountPoint = MountPoint(vm);
            // Stale mounts first: a mount left by a killed broker answers ENOTCONN to the stat
            // that CreateDirectory makes, which would refuse the view (IOException, "exists").
            FuseMount.CleanupStale(mountPoint);
            PrivateDirectory(Path.Combine(_services.Paths.RuntimeDir, "vm"));
            PrivateDirectory(Path.GetDirectoryName(mountPoint)!);
            Directory.CreateDirectory(mountPoint);
            var policy = _services.Policy.Current.Vms.TryGetValue(vm, out var p) ? p : null;
            var settings = new ViewSettings(_services.Options.GuestUid, _services.Options.GuestGid, policy?.View.Passthrough ?? false)
            {
                NowMs = _nowMs,
                Budget = Budget,
                Limits = Limits,
            };
            var fs = new ViewFileSystem(vm, this, settings);
            var grants = new Dictionary<string, ViewGrant>(StringComparer.Ordinal);
            fs.Install(Compile(vm, grants, out _));
            var callers = new ViewCallers(Files.EffectiveUid, (uid, _, pid) => Denied(vm, "foreign-caller", ".", Encoding.UTF8.GetBytes($"uid {uid} pid {pid}")));
            var session = new FuseSession(fs, new FuseSessionOptions
            {
                Passthrough = settings.Passthrough,
                Callers = callers,
                Log = (message, e) => LogSession(_services.Logger, vm, message, e),
            });
            session.Mount(mountPoint, new FuseMountOptions { Name = "spectrum", AllowOther = true });
            DataPathWarmup.Start();
            var view = new View(fs, session, mountPoint, grants, callers);
            _views[vm] = view;
            LogMounted(_services.Logger, vm, mountPoint);
            return view;
        }
    }

    /// <summary>
    /// A folder only its owner may enter (0700), also when an older broker made it 0755: the views
    /// below are for the VM's device backend and admins only (<see cref="ViewCallers"/> holds the
    /// same line for a caller that got in anyway).
    /// </summary>
    private static void PrivateDirectory(string path)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Directory.CreateDirectory(path, Private);
        if (File.GetUnixFileMode(path) != Private)
        {
            File.SetUnixFileMode(path, Private);
        }
    }

    /// <summary>Loads the VM's live grants; keeps the <see cref="ViewGrant"/> objects of grants still live, ends the rest.</summary>
    private GrantTable Compile(string vm, Dictionary<string, ViewGrant> grants, out List<ViewGrant> added)
    {
        using var connection = _services.Store.Read();
        var rows = connection.Query<GrantRow>(
            $"SELECT {GrantService.Columns} FROM grants WHERE vm = @vm AND state = 'active' AND (expires_at IS NULL OR expires_at > @now)",
            new { vm, now = _services.Store.NowMs }).ToList();
        added = [];
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            live.Add(row.Id);
            if (!grants.ContainsKey(row.Id) || grants[row.Id].Rights != row.RightsValue)
            {
                if (grants.TryGetValue(row.Id, out var changed))
                {
                    changed.End();
                }

                var g = new ViewGrant(row.Id, row.TreePath, row.Kind == GrantKinds.Directory, row.RightsValue, row.Identity, row.ExpiresAt, row.ParentIdentity, _nowMs);
                grants[row.Id] = g;
                added.Add(g);
            }
        }

        foreach (var id in grants.Keys.Where(id => !live.Contains(id)).ToList())
        {
            grants[id].End();
            grants.Remove(id);
        }

        return GrantTable.Compile(grants.Values);
    }

    private void OnGrantsChanged(IReadOnlySet<string> vms)
    {
        foreach (var vm in vms)
        {
            View view;
            List<ViewGrant> added;
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                if (!_views.TryGetValue(vm, out var existing))
                {
                    TryEnsure(vm);
                    continue;
                }

                view = existing;
                view.FileSystem.Install(Compile(vm, view.Grants, out added));
            }

            Invalidate(view, added);

            // A lookup that was already past its grant check when the revoke landed can answer
            // after the invalidation above and plant a positive entry; a second pass shortly
            // after drops it (its operations already fail: the grant is marked ended).
            _ = Task.Delay(TimeSpan.FromMilliseconds(50), _services.Time).ContinueWith(_ => Invalidate(view, []), TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Drops what the kernel cached about ended grants (entries and attributes of their nodes,
    /// and synthesized ancestors that lead nowhere now), and the negative entries along the paths
    /// of new grants, so that both take effect on the next access.
    /// </summary>
    private static void Invalidate(View view, List<ViewGrant> added)
    {
        var fs = view.FileSystem;
        var session = view.Session;

        // The root's attributes change when a whole-tree grant comes or goes (the tree root's or
        // a synthesized directory's); dropping them is cheap, so it is done on every change.
        session.InvalidateInode(FuseSession.RootKey, -1);
        if (added.Exists(g => g.Path.IsRoot))
        {
            // Names the guest looked up at the root and got ENOENT for are cached as negative
            // entries, which no name-by-name notify can reach: a new epoch drops every cached
            // entry (kernels without FUSE_NOTIFY_INC_EPOCH let the negative ones time out, 1 s).
            session.IncrementEpoch();
        }

        var components = added.Where(g => !g.Path.IsRoot).Select(g => g.Path.Value.Split('/').Select(Encoding.UTF8.GetBytes).ToArray()).ToList();
        foreach (var node in fs.Nodes.ToList())
        {
            var gone = node.IsSynthesized ? node.Parent is not null && !fs.LeadsToLiveGrant(node) : !node.IsLive;
            if (gone && node.Parent is not null)
            {
                session.InvalidateEntry(node.Parent.Key, node.Name);
                session.InvalidateInode(node.Key);
            }

            foreach (var path in components)
            {
                var depth = PlaceOnPath(node, path);
                if (depth >= 0 && depth < path.Length)
                {
                    session.InvalidateEntry(node.Key, path[depth]);
                }
                else if (depth == path.Length)
                {
                    session.InvalidateInode(node.Key);
                }
            }
        }
    }

    /// <summary>
    /// How many components of <paramref name="path"/> lead to <paramref name="node"/> (its depth),
    /// or −1 when the node is not on that path: walks the node's parents, never makes a path.
    /// </summary>
    private static int PlaceOnPath(ViewNode node, byte[][] path)
    {
        var depth = 0;
        for (var n = node; n.Parent is not null; n = n.Parent)
        {
            if (++depth > path.Length)
            {
                return -1;
            }
        }

        var i = depth;
        for (var n = node; n.Parent is not null; n = n.Parent)
        {
            if (!n.Name.AsSpan().SequenceEqual(path[--i]))
            {
                return -1;
            }
        }

        return depth;
    }

    /// <summary>Refusals go to the broker's <see cref="DenialAggregator"/>: one <c>deny</c> record per (VM, operation, scope) per interval.</summary>
    public void Denied(string vm, string op, string scope, ReadOnlySpan<byte> sample) => _services.Denials.Denied(vm, op, scope, sample);

    /// <summary>
    /// A grant root was replaced or moved: the grant ends in this view at once and is recorded
    /// stale (off the FUSE thread: the store's change event sends notifications, which must not
    /// run inside an operation).
    /// </summary>
    public void Stale(string vm, ViewGrant grant, string reason)
    {
        grant.End();
        lock (_staleReported)
        {
            if (!_staleReported.Add(grant.Id))
            {
                return;
            }
        }

        ThreadPool.QueueUserWorkItem(_ =>
        {
            try
            {
                _services.Store.Write(tx =>
                {
                    if (tx.Execute("UPDATE grants SET state = 'stale' WHERE id = @id AND state = 'active'", new { id = grant.Id }) > 0)
                    {
                        tx.Audit("broker", AuditActions.Stale, "ok", vm, grant.Path.Value, RightsText.Format(grant.Rights), grant.Id, reason);
                    }

                    return 0;
                });
            }
            catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or ObjectDisposedException or InvalidOperationException)
            {
                LogStaleLost(_services.Logger, grant.Id, e);
            }
        });
    }

    public void Dispose()
    {
        List<View> views;
        lock (_lock)
        {
            _disposed = true;
            views = [.. _views.Values];
            _views.Clear();
        }

        _services.Store.GrantsChanged -= OnGrantsChanged;
        _services.Denials.Flush();
        foreach (var view in views)
        {
            view.Session.Dispose();
        }

        Tree.DisposeMounts();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "View of {Vm} mounted at {MountPoint}")]
    private static partial void LogMounted(ILogger logger, string vm, string mountPoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot mount the view of {Vm}; the control plane keeps working without it")]
    private static partial void LogViewFailed(ILogger logger, string vm, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "View of {Vm}: {Message}")]
    private static partial void LogSession(ILogger logger, string vm, string message, Exception? e);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not record grant {GrantId} as stale")]
    private static partial void LogStaleLost(ILogger logger, string grantId, Exception e);
}
