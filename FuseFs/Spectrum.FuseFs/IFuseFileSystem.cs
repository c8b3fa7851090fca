using Spectrum.Interop;

namespace Spectrum.FuseFs;

/// <summary>
/// A filesystem served by a <see cref="FuseSession"/>: the raw FUSE operations, one method per
/// opcode, in the shape of go-fuse's <c>RawFileSystem</c> and virtiofsd's <c>FileSystem</c> trait.
/// </summary>
/// <remarks>
/// <para><b>Nodes.</b> The filesystem names nodes by its own 64-bit <b>node keys</b>; the session
/// maps them to kernel node ids that it allocates and never reuses, so a filesystem may reuse a
/// key once it is forgotten. Key 1 is the root directory (<see cref="FuseSession.RootKey"/>),
/// always valid. Every <c>node</c>/<c>parent</c> argument below is a key.</para>
/// <para><b>References.</b> Every successful LOOKUP, CREATE, MKDIR, MKNOD, SYMLINK and LINK
/// answer, and every READDIRPLUS entry with a non-zero key, hands the session one reference on
/// the key in <see cref="FuseEntryOut.NodeId"/>. The session gives references back through
/// <see cref="Forget"/> (when the kernel forgets, and for answers the kernel never received), so
/// a filesystem that counts +1 per handed-out entry and −n per Forget knows exactly when a key is
/// unused (count 0). Count before returning the entry: a Forget for the same key may run on
/// another thread as soon as the answer is out.</para>
/// <para><b>Errors</b> are values: return <see cref="Errno.OK"/> or an errno; never throw (an
/// exception becomes EIO and is logged once). Return <see cref="Errno.ENOSYS"/> for what you do
/// not implement (<see cref="FuseFileSystem"/> does): the session remembers it where the kernel
/// does and answers later calls itself.</para>
/// <para><b>Threads.</b> Operations run concurrently on the session's reader threads; nothing
/// on this path may block for long (SETLKW excepted, which runs off the reader threads and should
/// watch <see cref="FuseRequestContext.Cancellation"/>). Never call a <see cref="FuseSession"/>
/// notification from inside an operation: the kernel may hold locks the notification needs.</para>
/// <para><b>Buffers.</b> Names and data are spans into the request buffer, valid only during the
/// call (names are raw bytes, no NUL, never "" and at most 255 bytes). Output structs are
/// zeroed references into the reply buffer: fill what applies.</para>
/// </remarks>
public interface IFuseFileSystem
{
    /// <summary>INIT finished; <paramref name="connection"/> says what was negotiated. <paramref name="session"/> is the caller, for backing ids and notifications.</summary>
    void Init(FuseSession session, in FuseConnectionInfo connection);

    /// <summary>The session is shutting down (unmount or dispose); no more operations follow.</summary>
    void Destroy();

    /// <summary>
    /// The operation just served on this thread is over (after its handler returned, before the
    /// next request on the thread): what the filesystem held for the length of one operation may
    /// be let go. Called once per request that reached a handler; must not block or allocate.
    /// </summary>
    void RequestDone();

    /// <summary>
    /// Looks <paramref name="name"/> up in <paramref name="parent"/>. With EXPORT_SUPPORT the kernel
    /// also asks for "." and "..". To cache a negative answer, return ENOENT with
    /// <paramref name="entry"/>'s entry timeout set (and key 0).
    /// </summary>
    Errno Lookup(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry);

    /// <summary>Returns <paramref name="references"/> references on <paramref name="node"/> (see remarks). Never fails; may run on any thread.</summary>
    void Forget(ulong node, ulong references);

    /// <summary>Attributes of <paramref name="node"/>; <paramref name="fh"/> is the open file when called through fstat.</summary>
    Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr);

    /// <summary>chmod, chown, truncate, utimens (see <see cref="FuseSetAttrIn.Valid"/>); answers the new attributes.</summary>
    Errno SetAttr(in FuseRequestContext context, ulong node, in FuseSetAttrIn changes, ref FuseAttrOut attr);

    /// <summary>Reads the target of symlink <paramref name="node"/> into <paramref name="target"/> (no NUL).</summary>
    Errno Readlink(in FuseRequestContext context, ulong node, Span<byte> target, out int length);

    Errno Symlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ReadOnlySpan<byte> target, ref FuseEntryOut entry);

    /// <summary>mknod; <paramref name="mode"/> includes the file type. The kernel has not applied <paramref name="umask"/>.</summary>
    Errno Mknod(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint rdev, uint umask, ref FuseEntryOut entry);

    Errno Mkdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, uint mode, uint umask, ref FuseEntryOut entry);

    Errno Unlink(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name);

    Errno Rmdir(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name);

    /// <summary>rename / renameat2 (RENAME and RENAME2 both arrive here).</summary>
    Errno Rename(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, FuseRenameFlags flags);

    /// <summary>Hard link of <paramref name="node"/> as <paramref name="newName"/> in <paramref name="newParent"/>.</summary>
    Errno Link(in FuseRequestContext context, ulong node, ulong newParent, ReadOnlySpan<byte> newName, ref FuseEntryOut entry);

    /// <summary>Opens a file; <paramref name="flags"/> are open(2)'s (O_CREAT, O_EXCL, O_NOCTTY already handled by the kernel).</summary>
    Errno Open(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open);

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <paramref name="offset"/> straight into the reply. Short reads mean end of file.</summary>
    Errno Read(in FuseRequestContext context, ulong node, ulong fh, ulong offset, Span<byte> buffer, out int bytesRead);

    Errno Write(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ReadOnlySpan<byte> data, FuseWriteFlags flags, out int bytesWritten);

    Errno StatFs(in FuseRequestContext context, ulong node, ref FuseKStatfs stat);

    /// <summary>The last close of an open file. Errors are not seen by anyone.</summary>
    Errno Release(in FuseRequestContext context, ulong node, ulong fh, int flags, FuseReleaseFlags releaseFlags, ulong lockOwner);

    Errno Fsync(in FuseRequestContext context, ulong node, ulong fh, bool dataOnly);

    /// <summary>setxattr; <paramref name="flags"/> are XATTR_CREATE (1) / XATTR_REPLACE (2).</summary>
    Errno SetXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags);

    /// <summary>getxattr: with an empty <paramref name="value"/>, just report the size; ERANGE if it does not fit.</summary>
    Errno GetXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name, Span<byte> value, out int size);

    /// <summary>listxattr: NUL-separated names; with an empty <paramref name="list"/>, just report the size; ERANGE if it does not fit.</summary>
    Errno ListXattr(in FuseRequestContext context, ulong node, Span<byte> list, out int size);

    Errno RemoveXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name);

    /// <summary>Each close(2) of a file descriptor (there may be several per open).</summary>
    Errno Flush(in FuseRequestContext context, ulong node, ulong fh, ulong lockOwner);

    Errno OpenDir(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open);

    /// <summary>Lists entries starting after cookie <paramref name="offset"/> (0 = from the start) into <paramref name="entries"/>.</summary>
    Errno ReadDir(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries);

    /// <summary>READDIRPLUS: as <see cref="ReadDir"/>, with a node and attributes per entry (each a reference, see remarks). ENOSYS makes the session serve it from <see cref="ReadDir"/>.</summary>
    Errno ReadDirPlus(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries);

    Errno ReleaseDir(in FuseRequestContext context, ulong node, ulong fh, int flags);

    Errno FsyncDir(in FuseRequestContext context, ulong node, ulong fh, bool dataOnly);

    /// <summary>F_GETLK (POSIX) on <paramref name="owner"/>'s behalf: answer the conflicting lock, or <paramref name="lock"/> with Type = F_UNLCK.</summary>
    Errno GetLk(in FuseRequestContext context, ulong node, ulong fh, ulong owner, ref FuseFileLock @lock);

    /// <summary>F_SETLK / F_SETLKW (<paramref name="wait"/>) or flock(2) (<paramref name="flock"/>). A waiting call should watch the context's cancellation and return EINTR.</summary>
    Errno SetLk(in FuseRequestContext context, ulong node, ulong fh, ulong owner, in FuseFileLock @lock, bool wait, bool flock);

    /// <summary>access(2) with <paramref name="mask"/> R_OK 4 | W_OK 2 | X_OK 1 (F_OK 0).</summary>
    Errno Access(in FuseRequestContext context, ulong node, int mask);

    /// <summary>Atomic create-and-open. ENOSYS makes the kernel fall back to MKNOD + OPEN for good.</summary>
    Errno Create(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, int flags, uint mode, uint umask, ref FuseEntryOut entry, ref FuseOpenOut open);

    Errno Fallocate(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ulong length, int mode);

    /// <summary>lseek for SEEK_DATA (3) / SEEK_HOLE (4); the kernel handles SEEK_SET/CUR/END itself.</summary>
    Errno Lseek(in FuseRequestContext context, ulong node, ulong fh, ulong offset, int whence, out ulong result);

    Errno CopyFileRange(in FuseRequestContext context, ulong nodeIn, ulong fhIn, ulong offsetIn, ulong nodeOut, ulong fhOut, ulong offsetOut, ulong length, ulong flags, out ulong copied);
}
