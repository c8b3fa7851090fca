using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Spectrum.Interop;

namespace Spectrum.FuseFs;

// Decode, validate, dispatch, reply. One table row per opcode says how long the fixed part of
// the request must be, whether the node id must resolve to a key, and whether the kernel
// remembers an ENOSYS for it (fs/fuse: fc->no_flush, no_xattr, no_access, no_create, ...).
public sealed partial class FuseSession
{
    private delegate Errno Handler(FuseSession session, Worker worker, ref Call call);

    private static readonly Operation[] Operations = BuildOperations();

    private volatile bool _initDone;

    private static Operation[] BuildOperations()
    {
        var table = new Operation[64];
        void Add(FuseOpcode opcode, Handler handler, int minimumBody, bool node = true, bool remember = false) =>
            table[(int)opcode] = new Operation(handler, minimumBody, node, remember);

        Add(FuseOpcode.Lookup, HandleLookup, 2);
        Add(FuseOpcode.Forget, HandleForget, Unsafe.SizeOf<FuseForgetIn>(), node: false);
        Add(FuseOpcode.BatchForget, HandleBatchForget, Unsafe.SizeOf<FuseBatchForgetIn>(), node: false);
        Add(FuseOpcode.Interrupt, HandleInterrupt, Unsafe.SizeOf<FuseInterruptIn>(), node: false);
        Add(FuseOpcode.Getattr, HandleGetattr, 0);
        Add(FuseOpcode.Setattr, HandleSetattr, Unsafe.SizeOf<FuseSetAttrIn>());
        Add(FuseOpcode.Readlink, HandleReadlink, 0);
        Add(FuseOpcode.Symlink, HandleSymlink, 4);
        Add(FuseOpcode.Mknod, HandleMknod, Unsafe.SizeOf<FuseMknodIn>() + 2);
        Add(FuseOpcode.Mkdir, HandleMkdir, Unsafe.SizeOf<FuseMkdirIn>() + 2);
        Add(FuseOpcode.Unlink, HandleUnlink, 2);
        Add(FuseOpcode.Rmdir, HandleRmdir, 2);
        Add(FuseOpcode.Rename, HandleRename, Unsafe.SizeOf<FuseRenameIn>() + 4);
        Add(FuseOpcode.Rename2, HandleRename2, Unsafe.SizeOf<FuseRename2In>() + 4);
        Add(FuseOpcode.Link, HandleLink, Unsafe.SizeOf<FuseLinkIn>() + 2);
        Add(FuseOpcode.Open, HandleOpen, Unsafe.SizeOf<FuseOpenIn>());
        Add(FuseOpcode.Read, HandleRead, Unsafe.SizeOf<FuseReadIn>());
        Add(FuseOpcode.Write, HandleWrite, Unsafe.SizeOf<FuseWriteIn>());
        Add(FuseOpcode.Statfs, HandleStatfs, 0);
        Add(FuseOpcode.Release, HandleRelease, Unsafe.SizeOf<FuseReleaseIn>());
        Add(FuseOpcode.Fsync, HandleFsync, Unsafe.SizeOf<FuseFsyncIn>(), remember: true);
        Add(FuseOpcode.Setxattr, HandleSetxattr, FuseProtocol.CompatSetxattrInSize + 2, remember: true);
        Add(FuseOpcode.Getxattr, HandleGetxattr, Unsafe.SizeOf<FuseGetxattrIn>() + 2, remember: true);
        Add(FuseOpcode.Listxattr, HandleListxattr, Unsafe.SizeOf<FuseGetxattrIn>(), remember: true);
        Add(FuseOpcode.Removexattr, HandleRemovexattr, 2, remember: true);
        Add(FuseOpcode.Flush, HandleFlush, Unsafe.SizeOf<FuseFlushIn>(), remember: true);
        Add(FuseOpcode.Opendir, HandleOpendir, Unsafe.SizeOf<FuseOpenIn>());
        Add(FuseOpcode.Readdir, HandleReaddir, Unsafe.SizeOf<FuseReadIn>());
        Add(FuseOpcode.Readdirplus, HandleReaddirplus, Unsafe.SizeOf<FuseReadIn>());
        Add(FuseOpcode.Releasedir, HandleReleasedir, Unsafe.SizeOf<FuseReleaseIn>());
        Add(FuseOpcode.Fsyncdir, HandleFsyncdir, Unsafe.SizeOf<FuseFsyncIn>(), remember: true);
        Add(FuseOpcode.Getlk, HandleGetlk, Unsafe.SizeOf<FuseLkIn>());
        Add(FuseOpcode.Setlk, HandleSetlk, Unsafe.SizeOf<FuseLkIn>());
        Add(FuseOpcode.Setlkw, HandleSetlk, Unsafe.SizeOf<FuseLkIn>());
        Add(FuseOpcode.Access, HandleAccess, Unsafe.SizeOf<FuseAccessIn>(), remember: true);
        Add(FuseOpcode.Create, HandleCreate, Unsafe.SizeOf<FuseCreateIn>() + 2, remember: true);
        Add(FuseOpcode.Destroy, HandleDestroy, 0, node: false);
        Add(FuseOpcode.NotifyReply, HandleNotifyReply, 0, node: false);
        Add(FuseOpcode.Fallocate, HandleFallocate, Unsafe.SizeOf<FuseFallocateIn>(), remember: true);
        Add(FuseOpcode.Lseek, HandleLseek, Unsafe.SizeOf<FuseLseekIn>(), remember: true);
        Add(FuseOpcode.CopyFileRange, HandleCopyFileRange, Unsafe.SizeOf<FuseCopyFileRangeIn>(), remember: true);
        return table;
    }

    /// <summary>Serves one request read from <paramref name="worker"/>'s channel (and replies on it).</summary>
    internal void Process(Worker worker, ReadOnlySpan<byte> request)
    {
        if (request.Length < FuseLimits.InHeaderSize)
        {
            // Not even a header: there is no unique to answer to.
            Interlocked.Increment(ref _malformed);
            return;
        }

        var header = MemoryMarshal.Read<FuseInHeader>(request);
        var argsLength = request.Length - FuseLimits.InHeaderSize - (header.TotalExtlen * 8);
        if (header.Len != (uint)request.Length || argsLength < 0)
        {
            Interlocked.Increment(ref _malformed);
            SendError(worker, header.Unique, Errno.EINVAL);
            return;
        }

        var body = request.Slice(FuseLimits.InHeaderSize, argsLength);
        var opcode = (uint)header.Opcode;
        if (!_initDone)
        {
            if (header.Opcode == FuseOpcode.Init)
            {
                HandleInit(worker, header, body);
            }
            else
            {
                SendError(worker, header.Unique, Errno.EIO);
            }

            return;
        }

        var operation = opcode < Operations.Length ? Operations[opcode] : default;
        if (operation.Handler is null)
        {
            // INIT again, IOCTL, POLL, BMAP, STATX, TMPFILE, SYNCFS, DAX mappings, and the unknown.
            SendError(worker, header.Unique, header.Opcode == FuseOpcode.Init ? Errno.EIO : Errno.ENOSYS);
            return;
        }

        if (operation.RemembersEnosys && (Volatile.Read(ref _enosys) & (1UL << (int)opcode)) != 0)
        {
            SendError(worker, header.Unique, Errno.ENOSYS);
            return;
        }

        if (body.Length < operation.MinimumBody)
        {
            Interlocked.Increment(ref _malformed);
            if (header.Opcode is not (FuseOpcode.Forget or FuseOpcode.BatchForget))
            {
                SendError(worker, header.Unique, Errno.EINVAL);
            }

            return;
        }

        if (_options.Callers is { } callers && !IsUnfiltered(header.Opcode) && !callers.Accepts(header.Uid, header.Gid, header.Pid))
        {
            callers.Refused(opcode, header.Uid, header.Gid, header.Pid);
            SendError(worker, header.Unique, Errno.EACCES);
            return;
        }

        ulong key = 0;
        if (operation.NeedsNode && !Nodes.TryGetKey(header.NodeId, out key))
        {
            SendError(worker, header.Unique, FuseErrno.ESTALE);
            return;
        }

        if (header.Opcode == FuseOpcode.Setlkw && worker.Thread is not null)
        {
            // A blocking lock must not hold a reader thread hostage (the unlock may need it):
            // serve it on the thread pool with a copy of the request. Rare, so it may allocate.
            ServeBlocking(worker, request, header.Unique);
            return;
        }

        var track = header.Opcode is not (FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt);
        var call = new Call
        {
            Header = header,
            Key = key,
            Body = new FuseRequestReader(body),
            Payload = worker.Reply.AsSpan(FuseLimits.OutHeaderSize),
        };
        var token = track ? worker.Begin(header.Unique) : CancellationToken.None;
        call.Context = new FuseRequestContext(header.Unique, header.Uid, header.Gid, header.Pid, token);
        Errno result;
        try
        {
            result = operation.Handler(this, worker, ref call);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // PayloadLength stays: entries already registered in it are given back below.
            result = Errno.EIO;
            LogFaultOnce(opcode, exception);
        }
        finally
        {
            if (track)
            {
                worker.End();
            }

            _fileSystem.RequestDone();
        }

        if (result == Errno.ENOSYS && operation.RemembersEnosys)
        {
            Interlocked.Or(ref _enosys, 1UL << (int)opcode);
        }

        if (!call.NoReply)
        {
            if (result != Errno.OK && call.Entries != EntryKind.None)
            {
                UndoEntries(worker.Reply.AsSpan(FuseLimits.OutHeaderSize, call.PayloadLength), call.Entries);
            }

            var sent = Send(worker, header.Unique, result, call.PayloadLength);
            if (sent != Errno.OK && result == Errno.OK && call.Entries != EntryKind.None)
            {
                // The kernel never took these references (the caller was killed meanwhile).
                UndoEntries(worker.Reply.AsSpan(FuseLimits.OutHeaderSize, call.PayloadLength), call.Entries);
            }
        }

        worker.FlushDeferredForgets();
    }

    /// <summary>Requests that only give back what an accepted request handed out (see <see cref="IFuseCallerFilter"/>).</summary>
    private static bool IsUnfiltered(FuseOpcode opcode) => opcode is FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt
        or FuseOpcode.Release or FuseOpcode.Releasedir or FuseOpcode.Destroy or FuseOpcode.NotifyReply;

    private void ServeBlocking(Worker reader, ReadOnlySpan<byte> request, ulong unique)
    {
        var worker = new Worker(this, reader.Channel, request.Length, FuseLimits.OutHeaderSize + 64, ownsChannel: false);
        request.CopyTo(worker.Request);
        _blocking[unique] = worker;
        ThreadPool.UnsafeQueueUserWorkItem(
            static state =>
            {
                var (session, blocking, id) = state;
                try
                {
                    session.Process(blocking, blocking.Request);
                }
                finally
                {
                    session._blocking.TryRemove(id, out _);
                }
            },
            (this, worker, unique),
            preferLocal: false);
    }

    private Errno SendError(Worker worker, ulong unique, Errno errno) => Send(worker, unique, errno, 0);

    private Errno Send(Worker worker, ulong unique, Errno result, int payloadLength)
    {
        var error = (int)result;
        if (error is < 0 or > 511)
        {
            error = (int)Errno.EIO; // the kernel refuses errors outside -511..0
        }

        var length = error == 0 ? FuseLimits.OutHeaderSize + payloadLength : FuseLimits.OutHeaderSize;
        ref var header = ref MemoryMarshal.AsRef<FuseOutHeader>(worker.Reply.AsSpan());
        header.Len = (uint)length;
        header.Error = -error;
        header.Unique = unique;
        var sent = worker.Channel.Send(worker.Reply.AsSpan(0, length));
        if (sent != Errno.OK && sent != Errno.ENOENT && Volatile.Read(ref _disposed) == 0)
        {
            _options.Log?.Invoke($"writing a FUSE reply failed: {sent}", null);
        }

        return sent;
    }

    /// <summary>Gives back the references a reply carried that the kernel did not receive.</summary>
    private void UndoEntries(ReadOnlySpan<byte> payload, EntryKind kind)
    {
        if (kind == EntryKind.Single)
        {
            UndoNode(MemoryMarshal.Read<ulong>(payload));
            return;
        }

        const int PlusHeader = 152;
        var position = 0;
        while (position + PlusHeader <= payload.Length)
        {
            var nodeId = MemoryMarshal.Read<ulong>(payload[position..]);
            var nameLength = MemoryMarshal.Read<uint>(payload[(position + 128 + 16)..]);
            if (nodeId != 0)
            {
                UndoNode(nodeId);
            }

            position += (int)((PlusHeader + nameLength + 7) & ~7u);
        }
    }

    private void UndoNode(ulong nodeId)
    {
        if (Nodes.Forget(nodeId, 1, out var key, out var released) && released > 0)
        {
            ForgetKey(key, released);
        }
    }

    internal void ForgetKey(ulong key, ulong references)
    {
        try
        {
            _fileSystem.Forget(key, references);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            LogFaultOnce((uint)FuseOpcode.Forget, exception);
        }
    }

    private void LogFaultOnce(uint opcode, Exception exception)
    {
        var bit = 1UL << (int)(opcode & 63);
        if ((Interlocked.Or(ref _loggedFaults, bit) & bit) == 0)
        {
            _options.Log?.Invoke($"the filesystem threw on {(FuseOpcode)opcode}; answered EIO (logged once per opcode)", exception);
        }
    }

    // ---- INIT -------------------------------------------------------------------------------

    private void HandleInit(Worker worker, in FuseInHeader header, ReadOnlySpan<byte> body)
    {
        if (body.Length < 16)
        {
            Interlocked.Increment(ref _malformed);
            SendError(worker, header.Unique, Errno.EINVAL);
            return;
        }

        // Before 7.36 fuse_init_in was 16 bytes; read what came and leave the rest zero.
        Span<byte> padded = stackalloc byte[Unsafe.SizeOf<FuseInitIn>()];
        padded.Clear();
        body[..Math.Min(body.Length, padded.Length)].CopyTo(padded);
        var init = MemoryMarshal.Read<FuseInitIn>(padded);
        var payload = worker.Reply.AsSpan(FuseLimits.OutHeaderSize, Unsafe.SizeOf<FuseInitOut>());
        payload.Clear();
        ref var reply = ref MemoryMarshal.AsRef<FuseInitOut>(payload);
        if (init.Major < FuseProtocol.KernelVersion)
        {
            _options.Log?.Invoke($"the kernel speaks FUSE {init.Major}.{init.Minor}; 7.x is required", null);
            SendError(worker, header.Unique, FuseErrno.EPROTO);
            return;
        }

        reply.Major = FuseProtocol.KernelVersion;
        reply.Minor = FuseProtocol.KernelMinorVersion;
        if (init.Major > FuseProtocol.KernelVersion)
        {
            // Newer major: answer ours and wait for the kernel's next INIT in our major.
            Send(worker, header.Unique, Errno.OK, 8);
            return;
        }

        var kernelFlags = (FuseInitFlags)init.Flags;
        if ((kernelFlags & FuseInitFlags.InitExt) != 0)
        {
            kernelFlags |= (FuseInitFlags)((ulong)init.Flags2 << 32);
        }

        var wanted = FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites | FuseInitFlags.MaxPages
            | FuseInitFlags.ParallelDirops | FuseInitFlags.HandleKillprivV2 | FuseInitFlags.AutoInvalData
            | FuseInitFlags.AsyncDio | FuseInitFlags.InitExt;
        if (_options.ExportSupport)
        {
            wanted |= FuseInitFlags.ExportSupport;
        }

        if (_options.ReaddirPlus)
        {
            wanted |= FuseInitFlags.DoReaddirplus | (_options.ReaddirPlusAuto ? FuseInitFlags.ReaddirplusAuto : 0);
        }

        if (_options.Locks)
        {
            wanted |= FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks;
        }

        if (_options.WritebackCache)
        {
            wanted |= FuseInitFlags.WritebackCache;
        }

        if (_options.Passthrough)
        {
            wanted |= FuseInitFlags.Passthrough;
        }

        var negotiated = kernelFlags & wanted;
        var minor = Math.Min(init.Minor, FuseProtocol.KernelMinorVersion);
        var maxPages = (ushort)(_options.MaxWrite / FuseLimits.PageSize);
        reply.Minor = minor;
        reply.MaxReadahead = init.MaxReadahead;
        reply.Flags = (uint)negotiated;
        reply.Flags2 = (uint)((ulong)negotiated >> 32);
        reply.MaxBackground = (ushort)_options.MaxBackground;
        reply.CongestionThreshold = (ushort)Math.Max(1, _options.MaxBackground * 3 / 4);
        reply.MaxWrite = (uint)_options.MaxWrite;
        reply.TimeGran = 1;
        reply.MaxPages = maxPages;
        // Passthrough stacks us on the backing filesystem: one level (fs/fuse/inode.c requires 1..FILESYSTEM_MAX_STACK_DEPTH).
        reply.MaxStackDepth = (negotiated & FuseInitFlags.Passthrough) != 0 ? 1u : 0u;

        _connection = new FuseConnectionInfo(init.Major, minor, kernelFlags, negotiated, (uint)_options.MaxWrite, init.MaxReadahead, maxPages);
        try
        {
            _fileSystem.Init(this, _connection);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            _options.Log?.Invoke("the filesystem's Init failed; the mount will answer EIO", exception);
            SendError(worker, header.Unique, Errno.EIO);
            return;
        }

        // Old kernels take the reply size of their own struct (FUSE_COMPAT_INIT_OUT_SIZE, FUSE_COMPAT_22_INIT_OUT_SIZE).
        var size = minor < 5 ? 8 : minor < 23 ? 24 : Unsafe.SizeOf<FuseInitOut>();
        _initDone = true; // before the reply: other readers may see requests as soon as the kernel has it
        Send(worker, header.Unique, Errno.OK, size);
        _initialized.TrySetResult();
    }

    // ---- node accounting --------------------------------------------------------------------

    private static Errno HandleForget(FuseSession session, Worker worker, ref Call call)
    {
        call.NoReply = true;
        call.Body.TryRead<FuseForgetIn>(out var forget);
        session.ForgetNode(call.Header.NodeId, forget.Nlookup);
        return Errno.OK;
    }

    private static Errno HandleBatchForget(FuseSession session, Worker worker, ref Call call)
    {
        call.NoReply = true;
        call.Body.TryRead<FuseBatchForgetIn>(out var batch);
        if (batch.Count > FuseLimits.MaxBatchForget || batch.Count * 16L > call.Body.Remaining)
        {
            Interlocked.Increment(ref session._malformed);
            return Errno.EINVAL;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            call.Body.TryRead<FuseForgetOne>(out var one);
            session.ForgetNode(one.NodeId, one.Nlookup);
        }

        return Errno.OK;
    }

    private void ForgetNode(ulong nodeId, ulong count)
    {
        if (count > 0 && Nodes.Forget(nodeId, count, out var key, out var released) && released > 0)
        {
            ForgetKey(key, released);
        }
    }

    private static Errno HandleInterrupt(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseInterruptIn>(out var interrupt);
        foreach (var reader in session._readers)
        {
            if (reader.TryInterrupt(interrupt.Unique))
            {
                call.NoReply = true;
                return Errno.OK;
            }
        }

        if (session._blocking.TryGetValue(interrupt.Unique, out var blocking) && blocking.TryInterrupt(interrupt.Unique))
        {
            call.NoReply = true;
            return Errno.OK;
        }

        // Not (yet) in flight: EAGAIN makes the kernel queue the interrupt again; if the request
        // has already been answered, the kernel discards the retry (fs/fuse/dev.c, FUSE_INT_REQ_BIT).
        return Errno.EAGAIN;
    }

    private Errno FinishEntry(ref FuseEntryOut entry, Errno result, ref Call call, bool negativeAllowed)
    {
        if (result == Errno.OK)
        {
            if (entry.NodeId == 0)
            {
                return Errno.EIO; // a success must name a node
            }

            entry.Generation = 0;
            entry.NodeId = Nodes.Register(entry.NodeId);
            call.Entries = EntryKind.Single;
            return Errno.OK;
        }

        if (result == Errno.ENOENT && negativeAllowed && (entry.EntryValid != 0 || entry.EntryValidNsec != 0))
        {
            // A negative entry: nodeid 0 with a timeout makes the kernel cache "no such name".
            entry.NodeId = 0;
            entry.Generation = 0;
            entry.AttrValid = 0;
            entry.AttrValidNsec = 0;
            entry.Attr = default;
            return Errno.OK;
        }

        return result;
    }

    // ---- handlers ---------------------------------------------------------------------------

    private static Errno HandleLookup(FuseSession session, Worker worker, ref Call call)
    {
        if (!call.Body.TryReadName(out var name))
        {
            return NameError(session, ref call);
        }

        ref var entry = ref call.Slot<FuseEntryOut>(0);
        var result = session._fileSystem.Lookup(call.Context, call.Key, name, ref entry);
        return session.FinishEntry(ref entry, result, ref call, negativeAllowed: true);
    }

    private static Errno HandleGetattr(FuseSession session, Worker worker, ref Call call)
    {
        ulong? fh = null;
        if (call.Body.TryRead<FuseGetAttrIn>(out var getattr) && (getattr.GetattrFlags & FuseProtocol.GetattrFh) != 0)
        {
            fh = getattr.Fh;
        }

        ref var attr = ref call.Slot<FuseAttrOut>(0);
        return session._fileSystem.GetAttr(call.Context, call.Key, fh, ref attr);
    }

    private static Errno HandleSetattr(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseSetAttrIn>(out var changes);
        ref var attr = ref call.Slot<FuseAttrOut>(0);
        return session._fileSystem.SetAttr(call.Context, call.Key, changes, ref attr);
    }

    private static Errno HandleReadlink(FuseSession session, Worker worker, ref Call call)
    {
        var target = call.Payload[..(FuseLimits.MaxSymlinkTarget - 1)];
        var result = session._fileSystem.Readlink(call.Context, call.Key, target, out var length);
        if (result != Errno.OK)
        {
            return result;
        }

        if (length <= 0 || length > target.Length)
        {
            return Errno.EIO;
        }

        call.PayloadLength = length;
        return Errno.OK;
    }

    private static Errno HandleSymlink(FuseSession session, Worker worker, ref Call call)
    {
        if (!call.Body.TryReadName(out var name))
        {
            return NameError(session, ref call);
        }

        if (!call.Body.TryReadString(FuseLimits.MaxSymlinkTarget - 1, component: false, out var target))
        {
            return Malformed(session);
        }

        ref var entry = ref call.Slot<FuseEntryOut>(0);
        var result = session._fileSystem.Symlink(call.Context, call.Key, name, target, ref entry);
        return session.FinishEntry(ref entry, result, ref call, negativeAllowed: false);
    }

    private static Errno HandleMknod(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseMknodIn>(out var mknod);
        if (!call.Body.TryReadName(out var name))
        {
            return NameError(session, ref call);
        }

        ref var entry = ref call.Slot<FuseEntryOut>(0);
        var result = session._fileSystem.Mknod(call.Context, call.Key, name, mknod.Mode, mknod.Rdev, mknod.Umask, ref entry);
        return session.FinishEntry(ref entry, result, ref call, negativeAllowed: false);
    }

    private static Errno HandleMkdir(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseMkdirIn>(out var mkdir);
        if (!call.Body.TryReadName(out var name))
        {
            return NameError(session, ref call);
        }

        ref var entry = ref call.Slot<FuseEntryOut>(0);
        var result = session._fileSystem.Mkdir(call.Context, call.Key, name, mkdir.Mode, mkdir.Umask, ref entry);
        return session.FinishEntry(ref entry, result, ref call, negativeAllowed: false);
    }

    private static Errno HandleUnlink(FuseSession session, Worker worker, ref Call call) =>
        call.Body.TryReadName(out var name) ? session._fileSystem.Unlink(call.Context, call.Key, name) : NameError(session, ref call);

    private static Errno HandleRmdir(FuseSession session, Worker worker, ref Call call) =>
        call.Body.TryReadName(out var name) ? session._fileSystem.Rmdir(call.Context, call.Key, name) : NameError(session, ref call);

    private static Errno HandleRename(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseRenameIn>(out var rename);
        return session.Rename(ref call, rename.Newdir, FuseRenameFlags.None);
    }

    private static Errno HandleRename2(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseRename2In>(out var rename);
        return session.Rename(ref call, rename.Newdir, (FuseRenameFlags)rename.Flags);
    }

    private Errno Rename(ref Call call, ulong newDirId, FuseRenameFlags flags)
    {
        if (!call.Body.TryReadName(out var name) || !call.Body.TryReadName(out var newName))
        {
            return NameError(this, ref call);
        }

        if (!Nodes.TryGetKey(newDirId, out var newParent))
        {
            return FuseErrno.ESTALE;
        }

        return _fileSystem.Rename(call.Context, call.Key, name, newParent, newName, flags);
    }

    private static Errno HandleLink(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseLinkIn>(out var link);
        if (!call.Body.TryReadName(out var newName))
        {
            return NameError(session, ref call);
        }

        if (!session.Nodes.TryGetKey(link.Oldnodeid, out var node))
        {
            return FuseErrno.ESTALE;
        }

        ref var entry = ref call.Slot<FuseEntryOut>(0);
        var result = session._fileSystem.Link(call.Context, node, call.Key, newName, ref entry);
        return session.FinishEntry(ref entry, result, ref call, negativeAllowed: false);
    }

    private static Errno HandleOpen(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseOpenIn>(out var open);
        ref var reply = ref call.Slot<FuseOpenOut>(0);
        return session._fileSystem.Open(call.Context, call.Key, (int)open.Flags, ref reply);
    }

    private static Errno HandleOpendir(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseOpenIn>(out var open);
        ref var reply = ref call.Slot<FuseOpenOut>(0);
        return session._fileSystem.OpenDir(call.Context, call.Key, (int)open.Flags, ref reply);
    }

    private static Errno HandleRead(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseReadIn>(out var read);
        if (read.Size > call.Payload.Length)
        {
            return Malformed(session);
        }

        var buffer = call.Payload[..(int)read.Size];
        var result = session._fileSystem.Read(call.Context, call.Key, read.Fh, read.Offset, buffer, out var bytesRead);
        if (result != Errno.OK)
        {
            return result;
        }

        if (bytesRead < 0 || bytesRead > buffer.Length)
        {
            return Errno.EIO;
        }

        call.PayloadLength = bytesRead;
        return Errno.OK;
    }

    private static Errno HandleWrite(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseWriteIn>(out var write);
        if (write.Size != call.Body.Remaining || !call.Body.TryReadBytes((int)write.Size, out var data))
        {
            return Malformed(session);
        }

        var result = session._fileSystem.Write(call.Context, call.Key, write.Fh, write.Offset, data, (FuseWriteFlags)write.WriteFlags, out var written);
        if (result != Errno.OK)
        {
            return result;
        }

        if (written < 0 || written > data.Length)
        {
            return Errno.EIO;
        }

        call.Slot<FuseWriteOut>(0).Size = (uint)written;
        return Errno.OK;
    }

    private static Errno HandleStatfs(FuseSession session, Worker worker, ref Call call)
    {
        ref var statfs = ref call.Slot<FuseStatfsOut>(0);
        return session._fileSystem.StatFs(call.Context, call.Key, ref statfs.St);
    }

    private static Errno HandleRelease(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseReleaseIn>(out var release);
        return session._fileSystem.Release(call.Context, call.Key, release.Fh, (int)release.Flags, (FuseReleaseFlags)release.ReleaseFlags, release.LockOwner);
    }

    private static Errno HandleReleasedir(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseReleaseIn>(out var release);
        return session._fileSystem.ReleaseDir(call.Context, call.Key, release.Fh, (int)release.Flags);
    }

    private static Errno HandleFsync(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseFsyncIn>(out var fsync);
        return session._fileSystem.Fsync(call.Context, call.Key, fsync.Fh, (fsync.FsyncFlags & FuseProtocol.FsyncFdatasync) != 0);
    }

    private static Errno HandleFsyncdir(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseFsyncIn>(out var fsync);
        return session._fileSystem.FsyncDir(call.Context, call.Key, fsync.Fh, (fsync.FsyncFlags & FuseProtocol.FsyncFdatasync) != 0);
    }

    private static Errno HandleFlush(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseFlushIn>(out var flush);
        return session._fileSystem.Flush(call.Context, call.Key, flush.Fh, flush.LockOwner);
    }

    private static Errno HandleSetxattr(FuseSession session, Worker worker, ref Call call)
    {
        // Without FUSE_SETXATTR_EXT (not requested) the kernel sends the 8-byte compat header.
        var extended = (session._connection.Flags & FuseInitFlags.SetxattrExt) != 0;
        FuseSetxattrIn setxattr = default;
        if (extended)
        {
            call.Body.TryRead(out setxattr);
        }
        else
        {
            call.Body.TryRead<ulong>(out var compat);
            setxattr.Size = (uint)compat;
            setxattr.Flags = (uint)(compat >> 32);
        }

        if (!call.Body.TryReadString(FuseLimits.MaxXattrName, component: false, out var name))
        {
            return NameError(session, ref call);
        }

        if (setxattr.Size > FuseLimits.MaxXattrSize)
        {
            return FuseErrno.E2BIG;
        }

        if (setxattr.Size != call.Body.Remaining || !call.Body.TryReadBytes((int)setxattr.Size, out var value))
        {
            return Malformed(session);
        }

        return session._fileSystem.SetXattr(call.Context, call.Key, name, value, (int)setxattr.Flags);
    }

    private static Errno HandleGetxattr(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseGetxattrIn>(out var getxattr);
        if (!call.Body.TryReadString(FuseLimits.MaxXattrName, component: false, out var name))
        {
            return NameError(session, ref call);
        }

        return session.XattrReply(ref call, getxattr.Size, name, list: false);
    }

    private static Errno HandleListxattr(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseGetxattrIn>(out var getxattr);
        return session.XattrReply(ref call, getxattr.Size, default, list: true);
    }

    private Errno XattrReply(ref Call call, uint size, ReadOnlySpan<byte> name, bool list)
    {
        if (size > FuseLimits.MaxXattrSize || size > call.Payload.Length)
        {
            return Malformed(this);
        }

        // Size 0 asks only how big: answer fuse_getxattr_out; otherwise the bytes themselves.
        var buffer = size == 0 ? Span<byte>.Empty : call.Payload[..(int)size];
        var result = list
            ? _fileSystem.ListXattr(call.Context, call.Key, buffer, out var length)
            : _fileSystem.GetXattr(call.Context, call.Key, name, buffer, out length);
        if (result != Errno.OK)
        {
            return result;
        }

        if (size == 0)
        {
            if (length < 0)
            {
                return Errno.EIO;
            }

            call.Slot<FuseGetxattrOut>(0).Size = (uint)length;
            return Errno.OK;
        }

        if (length < 0 || length > buffer.Length)
        {
            return FuseErrno.ERANGE;
        }

        call.PayloadLength = length;
        return Errno.OK;
    }

    private static Errno HandleRemovexattr(FuseSession session, Worker worker, ref Call call) =>
        call.Body.TryReadString(FuseLimits.MaxXattrName, component: false, out var name)
            ? session._fileSystem.RemoveXattr(call.Context, call.Key, name)
            : NameError(session, ref call);

    private static Errno HandleReaddir(FuseSession session, Worker worker, ref Call call) =>
        session.ReadDirectory(worker, ref call, plus: false);

    private static Errno HandleReaddirplus(FuseSession session, Worker worker, ref Call call) =>
        session.ReadDirectory(worker, ref call, plus: true);

    private Errno ReadDirectory(Worker worker, ref Call call, bool plus)
    {
        call.Body.TryRead<FuseReadIn>(out var read);
        var size = (int)Math.Min(read.Size, (uint)call.Payload.Length);
        var writer = new FuseDirectoryWriter(call.Payload[..size], plus, worker);
        call.Entries = plus ? EntryKind.DirentPlus : EntryKind.None;
        try
        {
            if (!plus || (Volatile.Read(ref _enosys) & (1UL << (int)FuseOpcode.Readdirplus)) != 0)
            {
                return _fileSystem.ReadDir(call.Context, call.Key, read.Fh, read.Offset, ref writer);
            }

            var result = _fileSystem.ReadDirPlus(call.Context, call.Key, read.Fh, read.Offset, ref writer);
            if (result != Errno.ENOSYS)
            {
                return result;
            }

            // Serve READDIRPLUS from ReadDir from now on: entries with node id 0 are plain
            // dirents to the kernel, which then looks each name up itself.
            Interlocked.Or(ref _enosys, 1UL << (int)FuseOpcode.Readdirplus);
            UndoEntries(call.Payload[..writer.Length], EntryKind.DirentPlus);
            writer = new FuseDirectoryWriter(call.Payload[..size], plus, worker);
            return _fileSystem.ReadDir(call.Context, call.Key, read.Fh, read.Offset, ref writer);
        }
        finally
        {
            // Also on an exception: what was registered in the buffer must be undone.
            call.PayloadLength = writer.Length;
        }
    }

    private static Errno HandleGetlk(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseLkIn>(out var lk);
        ref var reply = ref call.Slot<FuseLkOut>(0);
        reply.Lk = lk.Lk;
        return session._fileSystem.GetLk(call.Context, call.Key, lk.Fh, lk.Owner, ref reply.Lk);
    }

    private static Errno HandleSetlk(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseLkIn>(out var lk);
        var wait = call.Header.Opcode == FuseOpcode.Setlkw;
        var flock = (lk.LkFlags & FuseProtocol.LkFlock) != 0;
        return session._fileSystem.SetLk(call.Context, call.Key, lk.Fh, lk.Owner, lk.Lk, wait, flock);
    }

    private static Errno HandleAccess(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseAccessIn>(out var access);
        return session._fileSystem.Access(call.Context, call.Key, (int)access.Mask);
    }

    private static Errno HandleCreate(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseCreateIn>(out var create);
        if (!call.Body.TryReadName(out var name))
        {
            return NameError(session, ref call);
        }

        ref var entry = ref call.Slot<FuseEntryOut>(0);
        ref var open = ref call.Slot<FuseOpenOut>(Unsafe.SizeOf<FuseEntryOut>());
        var result = session._fileSystem.Create(call.Context, call.Key, name, (int)create.Flags, create.Mode, create.Umask, ref entry, ref open);
        return session.FinishEntry(ref entry, result, ref call, negativeAllowed: false);
    }

    private static Errno HandleDestroy(FuseSession session, Worker worker, ref Call call)
    {
        session.CallDestroy();
        return Errno.OK;
    }

    private static Errno HandleNotifyReply(FuseSession session, Worker worker, ref Call call)
    {
        call.NoReply = true; // answers to NOTIFY_RETRIEVE, which this session never sends
        return Errno.OK;
    }

    private static Errno HandleFallocate(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseFallocateIn>(out var fallocate);
        return session._fileSystem.Fallocate(call.Context, call.Key, fallocate.Fh, fallocate.Offset, fallocate.Length, (int)fallocate.Mode);
    }

    private static Errno HandleLseek(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseLseekIn>(out var lseek);
        var result = session._fileSystem.Lseek(call.Context, call.Key, lseek.Fh, lseek.Offset, (int)lseek.Whence, out var offset);
        if (result == Errno.OK)
        {
            call.Slot<FuseLseekOut>(0).Offset = offset;
        }

        return result;
    }

    private static Errno HandleCopyFileRange(FuseSession session, Worker worker, ref Call call)
    {
        call.Body.TryRead<FuseCopyFileRangeIn>(out var copy);
        if (!session.Nodes.TryGetKey(copy.NodeidOut, out var nodeOut))
        {
            return FuseErrno.ESTALE;
        }

        var result = session._fileSystem.CopyFileRange(call.Context, call.Key, copy.FhIn, copy.OffIn, nodeOut, copy.FhOut, copy.OffOut, copy.Len, copy.Flags, out var copied);
        if (result == Errno.OK)
        {
            call.Slot<FuseWriteOut>(0).Size = (uint)Math.Min(copied, Math.Min(copy.Len, uint.MaxValue));
        }

        return result;
    }

    private static Errno NameError(FuseSession session, ref Call call)
    {
        // An over-long component is what the VFS would call ENAMETOOLONG; anything else is malformed.
        var rest = call.Body;
        var end = rest.TryReadBytes(rest.Remaining, out var bytes) ? bytes.IndexOf((byte)0) : -1;
        Interlocked.Increment(ref session._malformed);
        return end > FuseLimits.MaxName ? Errno.ENAMETOOLONG : Errno.EINVAL;
    }

    private static Errno Malformed(FuseSession session)
    {
        Interlocked.Increment(ref session._malformed);
        return Errno.EINVAL;
    }

    internal enum EntryKind
    {
        None,
        /// <summary>One fuse_entry_out at the start of the payload.</summary>
        Single,
        /// <summary>fuse_direntplus records filling the payload.</summary>
        DirentPlus,
    }

    private readonly struct Operation(Handler handler, int minimumBody, bool needsNode, bool remembersEnosys)
    {
        public Handler? Handler { get; } = handler;

        public int MinimumBody { get; } = minimumBody;

        public bool NeedsNode { get; } = needsNode;

        public bool RemembersEnosys { get; } = remembersEnosys;
    }

    /// <summary>One request being served: its header, resolved node key, body reader and reply payload.</summary>
    internal ref struct Call
    {
        public FuseInHeader Header;
        public ulong Key;
        public FuseRequestReader Body;
        public Span<byte> Payload;
        public int PayloadLength;
        public FuseRequestContext Context;
        public bool NoReply;
        public EntryKind Entries;

        /// <summary>A zeroed <typeparamref name="T"/> at <paramref name="offset"/> in the reply, counted into its length.</summary>
        public ref T Slot<T>(int offset)
            where T : unmanaged
        {
            var size = Unsafe.SizeOf<T>();
            var span = Payload.Slice(offset, size);
            span.Clear();
            PayloadLength = Math.Max(PayloadLength, offset + size);
            return ref MemoryMarshal.AsRef<T>(span);
        }
    }
}
