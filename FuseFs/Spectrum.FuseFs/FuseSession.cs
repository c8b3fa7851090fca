using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Spectrum.Interop;

namespace Spectrum.FuseFs;

/// <summary>
/// The FUSE protocol between a channel and an <see cref="IFuseFileSystem"/>: INIT negotiation,
/// validated table-driven dispatch, node ids and lookup counts, interrupts, notifications.
/// Requests are served on dedicated reader threads, each with its own channel clone and pinned
/// request/reply buffers, so the read/write path allocates nothing.
/// </summary>
public sealed partial class FuseSession : IDisposable
{
    /// <summary>The root directory's node key (and kernel node id): FUSE_ROOT_ID.</summary>
    public const ulong RootKey = 1;

    /// <summary>How long Dispose lets a lazily detached mount drain before aborting the connection.</summary>
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(1);

    private readonly IFuseFileSystem _fileSystem;
    private readonly FuseSessionOptions _options;
    private readonly List<Worker> _readers = [];
    private readonly ConcurrentDictionary<ulong, Worker> _blocking = new();
    private readonly TaskCompletionSource _initialized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IFuseChannel? _channel;
    private FuseMount? _mount;
    private FuseConnectionInfo _connection;
    private ulong _enosys;       // bit per opcode < 64 answered ENOSYS where the kernel remembers it
    private ulong _loggedFaults; // bit per opcode whose exception was logged
    private int _running;
    private int _destroyed;
    private int _disposed;
    private long _malformed;

    public FuseSession(IFuseFileSystem fileSystem, FuseSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fileSystem);
        _fileSystem = fileSystem;
        _options = options ?? new FuseSessionOptions();
        _options.Validate();
    }

    /// <summary>Completes when INIT has been answered.</summary>
    public Task Initialized => _initialized.Task;

    /// <summary>Completes when every reader has stopped (unmount, abort, dispose).</summary>
    public Task Completion => _completion.Task;

    /// <summary>What INIT negotiated (default until <see cref="Initialized"/>).</summary>
    public FuseConnectionInfo Connection => _connection;

    /// <summary>Lookup accounting: every lookup reference given to the kernel and every one forgotten.</summary>
    public FuseNodeStatistics Statistics => Nodes.Statistics;

    /// <summary>Requests rejected as malformed since the start.</summary>
    public long MalformedRequests => Interlocked.Read(ref _malformed);

    /// <summary>The mount this session made with <see cref="Mount"/>, if any.</summary>
    public FuseMount? MountInfo => _mount;

    internal NodeTable Nodes { get; } = new();

    internal FuseSessionOptions Options => _options;

    /// <summary>Mounts at <paramref name="mountPoint"/> (see <see cref="FuseMount.Mount"/>) and starts serving; dispose unmounts.</summary>
    public void Mount(string mountPoint, FuseMountOptions? options = null)
    {
        var mount = FuseMount.Mount(mountPoint, options ?? new FuseMountOptions());
        _mount = mount;
        try
        {
            Start(mount.Channel, ownsChannel: false);
        }
        catch
        {
            _mount = null;
            mount.Dispose();
            throw;
        }
    }

    /// <summary>Starts the reader threads on <paramref name="channel"/> (cloned once per extra reader).</summary>
    public void Start(IFuseChannel channel) => Start(channel, ownsChannel: true);

    private void Start(IFuseChannel channel, bool ownsChannel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            throw new InvalidOperationException("the session is already running");
        }

        _channel = channel;
        var requestSize = Math.Max(_options.MaxWrite, FuseLimits.MaxNonWriteBody) + FuseLimits.HeaderRoom;
        var replySize = FuseLimits.OutHeaderSize + Math.Max(_options.MaxWrite, FuseLimits.MaxXattrSize);
        for (var i = 0; i < _options.ReaderThreads; i++)
        {
            var readerChannel = i == 0 ? channel : channel.Clone();
            _readers.Add(new Worker(this, readerChannel, requestSize, replySize, ownsChannel: i != 0 || ownsChannel));
        }

        for (var i = 0; i < _readers.Count; i++)
        {
            var reader = _readers[i];
            reader.Thread = new Thread(static state => ((Worker)state!).Run())
            {
                IsBackground = true,
                Name = $"fuse-reader-{i}",
            };
            reader.Thread.Start(reader);
        }
    }

    /// <summary>
    /// FUSE_NOTIFY_INVAL_ENTRY: the kernel drops its cached <paramref name="name"/> in
    /// <paramref name="parentKey"/> (positive or negative), so the next access looks it up again.
    /// Callable from any thread except inside a filesystem operation. OK when the kernel does not
    /// know the parent (nothing cached), else the kernel's answer (ENOENT: not cached).
    /// </summary>
    public Errno InvalidateEntry(ulong parentKey, ReadOnlySpan<byte> name)
    {
        if (!Nodes.TryGetNodeId(parentKey, out var parent))
        {
            return Errno.OK;
        }

        return Notify(FuseNotifyCode.InvalEntry, parent, 0, name);
    }

    /// <summary>
    /// FUSE_NOTIFY_INVAL_INODE: the kernel drops cached attributes of <paramref name="key"/> and
    /// its cached data from <paramref name="offset"/> for <paramref name="length"/> bytes (0: to
    /// the end; a negative offset: attributes only).
    /// </summary>
    public Errno InvalidateInode(ulong key, long offset = 0, long length = 0)
    {
        if (!Nodes.TryGetNodeId(key, out var node))
        {
            return Errno.OK;
        }

        Span<byte> message = stackalloc byte[FuseLimits.OutHeaderSize + 24];
        message.Clear();
        ref var body = ref MemoryMarshal.AsRef<FuseNotifyInvalInodeOut>(message[FuseLimits.OutHeaderSize..]);
        body.Ino = node;
        body.Off = offset;
        body.Len = length;
        return SendNotification(FuseNotifyCode.InvalInode, message);
    }

    /// <summary>
    /// FUSE_NOTIFY_DELETE: <paramref name="name"/> in <paramref name="parentKey"/>, which was
    /// <paramref name="childKey"/>, is gone: the kernel unhashes the dentry and, if the child is a
    /// directory, marks it dead. Falls back to <see cref="InvalidateEntry"/> when the kernel does
    /// not know the child.
    /// </summary>
    public Errno NotifyDelete(ulong parentKey, ulong childKey, ReadOnlySpan<byte> name)
    {
        if (!Nodes.TryGetNodeId(parentKey, out var parent))
        {
            return Errno.OK;
        }

        return Nodes.TryGetNodeId(childKey, out var child)
            ? Notify(FuseNotifyCode.Delete, parent, child, name)
            : Notify(FuseNotifyCode.InvalEntry, parent, 0, name);
    }

    /// <summary>
    /// FUSE_NOTIFY_INC_EPOCH (protocol 7.44, Linux 6.16): every entry the kernel cached before this
    /// call, positive or negative, is looked up again on its next use. The one way to drop negative
    /// entries whose names are not known. An older kernel answers EINVAL (its entries then live
    /// out their timeouts).
    /// </summary>
    public Errno IncrementEpoch()
    {
        Span<byte> message = stackalloc byte[FuseLimits.OutHeaderSize];
        message.Clear();
        return SendNotification(FuseNotifyCode.IncEpoch, message);
    }

    /// <summary>
    /// Registers an open file as a passthrough backing file (FUSE_DEV_IOC_BACKING_OPEN) for
    /// <see cref="FuseOpenOut.BackingId"/> with <see cref="FuseOpenFlags.Passthrough"/>. The kernel
    /// keeps its own reference: close <paramref name="backing"/> whenever you like, and call
    /// <see cref="CloseBacking"/> when no further open will use the id (files already open keep
    /// working). Returns the id (&gt; 0) or a negative errno (EPERM: passthrough not negotiated or
    /// not privileged; EOPNOTSUPP: the transport has none).
    /// </summary>
    public int OpenBacking(SafeHandle backing)
    {
        ArgumentNullException.ThrowIfNull(backing);
        return _channel is IFuseBackingChannel channel ? channel.OpenBacking(backing) : -(int)Errno.EOPNOTSUPP;
    }

    /// <summary>Releases a backing id from <see cref="OpenBacking"/>.</summary>
    public Errno CloseBacking(int backingId) =>
        _channel is IFuseBackingChannel channel ? channel.CloseBacking(backingId) : Errno.EOPNOTSUPP;

    /// <summary>
    /// Unmounts (if this session mounted), waits briefly for the readers to see the connection go,
    /// aborts it through fusectl if they do not, and calls <see cref="IFuseFileSystem.Destroy"/>.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var connectionId = _mount is null ? null : ConnectionId(_mount.MountPoint);
        _mount?.Unmount();
        if (_mount is null)
        {
            // Not our mount to take down: closing the channels is how this transport stops.
            foreach (var reader in _readers)
            {
                reader.DisposeChannel();
            }
        }

        if (_readers.Count > 0 && !_completion.Task.Wait(ShutdownGrace) && connectionId is not null)
        {
            // Something still holds the lazily detached mount open (an open file, a cwd): abort
            // the connection, which fails its users with ENOTCONN and wakes our readers with
            // ENODEV (fs/fuse/control.c). Closing our fds cannot: a blocked read holds the file.
            FuseMount.AbortConnection(connectionId);
            _completion.Task.Wait(ShutdownGrace);
        }

        CallDestroy();
        foreach (var reader in _readers)
        {
            reader.DisposeChannel();
        }

        _mount?.Dispose();
        _initialized.TrySetCanceled();
    }

    private static string? ConnectionId(string mountPoint)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mountinfo"))
            {
                var fields = line.Split(' ');
                if (fields.Length > 4 && FuseMount.Unescape(fields[4]) == mountPoint && line.Contains(" - fuse", StringComparison.Ordinal))
                {
                    // major:minor of an anonymous (major 0) device: the fusectl directory is the minor.
                    var device = fields[2].Split(':');
                    return device.Length == 2 && device[0] == "0" ? device[1] : null;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    private Errno Notify(FuseNotifyCode code, ulong parent, ulong child, ReadOnlySpan<byte> name)
    {
        if (name.Length is 0 or > FuseLimits.MaxName)
        {
            return Errno.EINVAL;
        }

        var bodySize = code == FuseNotifyCode.Delete ? 24 : 16;
        Span<byte> message = stackalloc byte[FuseLimits.OutHeaderSize + 24 + FuseLimits.MaxName + 1];
        message = message[..(FuseLimits.OutHeaderSize + bodySize + name.Length + 1)];
        message.Clear();
        var body = message[FuseLimits.OutHeaderSize..];
        if (code == FuseNotifyCode.Delete)
        {
            ref var delete = ref MemoryMarshal.AsRef<FuseNotifyDeleteOut>(body);
            delete.Parent = parent;
            delete.Child = child;
            delete.Namelen = (uint)name.Length;
        }
        else
        {
            ref var entry = ref MemoryMarshal.AsRef<FuseNotifyInvalEntryOut>(body);
            entry.Parent = parent;
            entry.Namelen = (uint)name.Length;
        }

        name.CopyTo(body[bodySize..]);
        return SendNotification(code, message);
    }

    private Errno SendNotification(FuseNotifyCode code, Span<byte> message)
    {
        var channel = _channel;
        if (channel is null || !_initialized.Task.IsCompletedSuccessfully || Volatile.Read(ref _disposed) != 0)
        {
            return FuseErrno.ENOTCONN;
        }

        ref var header = ref MemoryMarshal.AsRef<FuseOutHeader>(message);
        header.Len = (uint)message.Length;
        header.Error = (int)code;
        header.Unique = 0;
        return channel.Send(message);
    }

    private void CallDestroy()
    {
        if (Interlocked.Exchange(ref _destroyed, 1) != 0 || !_initialized.Task.IsCompletedSuccessfully)
        {
            return;
        }

        try
        {
            _fileSystem.Destroy();
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            _options.Log?.Invoke("the filesystem's Destroy failed", exception);
        }
    }

    private void ReaderStopped()
    {
        lock (_readers)
        {
            if (_readers.TrueForAll(static reader => reader.Stopped))
            {
                _completion.TrySetResult();
            }
        }
    }

    /// <summary>
    /// One request-serving context: a reader thread with its own channel clone and pinned buffers,
    /// or a one-off context for a blocking request (SETLKW) served off the reader threads.
    /// </summary>
    internal sealed class Worker
    {
        private readonly Lock _inFlightLock = new();
        private readonly bool _ownsChannel;
        private ulong[] _deferred = new ulong[8];
        private int _deferredCount;
        private ulong _inFlight;
        private CancellationTokenSource _cancellation = new();

        public Worker(FuseSession session, IFuseChannel channel, int requestSize, int replySize, bool ownsChannel)
        {
            Session = session;
            Channel = channel;
            _ownsChannel = ownsChannel;
            // Pinned once for the reader's life: the kernel copies straight into and out of them.
            Request = GC.AllocateUninitializedArray<byte>(requestSize, pinned: true);
            Reply = GC.AllocateUninitializedArray<byte>(replySize, pinned: true);
        }

        public FuseSession Session { get; }

        public IFuseChannel Channel { get; }

        public byte[] Request { get; }

        public byte[] Reply { get; }

        public Thread? Thread { get; set; }

        public bool Stopped { get; private set; }

        public void Run()
        {
            try
            {
                while (true)
                {
                    var errno = Channel.Receive(Request, out var length);
                    if (errno == Errno.ENODEV)
                    {
                        break;
                    }

                    if (errno != Errno.OK)
                    {
                        if (Volatile.Read(ref Session._disposed) == 0)
                        {
                            Session._options.Log?.Invoke($"reading a FUSE request failed: {errno}", null);
                        }

                        break;
                    }

                    Session.Process(this, Request.AsSpan(0, length));
                }
            }
            catch (ObjectDisposedException)
            {
                // The channel was closed under us by Dispose.
            }
            finally
            {
                Stopped = true;
                Session.ReaderStopped();
            }
        }

        /// <summary>Marks <paramref name="unique"/> in flight here; returns the token an INTERRUPT cancels.</summary>
        public CancellationToken Begin(ulong unique)
        {
            lock (_inFlightLock)
            {
                _inFlight = unique;
                return _cancellation.Token;
            }
        }

        public void End()
        {
            lock (_inFlightLock)
            {
                _inFlight = 0;
                if (_cancellation.IsCancellationRequested && !_cancellation.TryReset())
                {
                    _cancellation.Dispose();
                    _cancellation = new CancellationTokenSource(); // only after an interrupt
                }
            }
        }

        /// <summary>Cancels the request if it is in flight here.</summary>
        public bool TryInterrupt(ulong unique)
        {
            lock (_inFlightLock)
            {
                if (_inFlight != unique || unique == 0)
                {
                    return false;
                }

                _cancellation.Cancel();
                return true;
            }
        }

        /// <summary>A reference handed over by the filesystem that the kernel will never hold; returned after the operation.</summary>
        public void DeferForget(ulong key)
        {
            if (_deferredCount == _deferred.Length)
            {
                Array.Resize(ref _deferred, _deferred.Length * 2);
            }

            _deferred[_deferredCount++] = key;
        }

        public void FlushDeferredForgets()
        {
            for (var i = 0; i < _deferredCount; i++)
            {
                Session.ForgetKey(_deferred[i], 1);
            }

            _deferredCount = 0;
        }

        public void DisposeChannel()
        {
            if (_ownsChannel)
            {
                Channel.Dispose();
            }
        }
    }
}
