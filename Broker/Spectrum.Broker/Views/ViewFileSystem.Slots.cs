using System.Security.Cryptography;
using Spectrum.Capabilities;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// Named slots (the portal's SaveFile grants: a file grant carrying <c>create</c>, whose file may
/// not exist yet) and the scratch files next to them, so that an app's usual save works: write a
/// temporary file in the document's folder, then rename it over the document.
/// </summary>
/// <remarks>
/// <para>The slot's own name: a file grant with <c>create</c> lets the guest create exactly that
/// name (O_CREAT | O_EXCL | O_NOFOLLOW below its checked directory fd), in a synthesized directory
/// too; then it is an ordinary file of that grant. Any other name there stays ENOENT.</para>
/// <para>Scratch files, as xdg-document-portal does them: in a synthesized directory that directly
/// holds a file grant with <c>create</c> and <c>write</c> (the slot), the guest may create a new
/// regular file of any other name. It is backed by a hidden host file with a broker-chosen name
/// (<see cref="ScratchPrefix"/> and 16 random hex digits) in that same host directory, and the
/// guest sees it under the name it chose, only in this view, only while the slot grant lives. The
/// guest name is only a key in this view's table: it never reaches the host, so a guest name
/// equal to an ungranted host entry neither reveals nor touches that entry. A scratch file can be
/// written, read, truncated, listed, unlinked, renamed onto another scratch name, and renamed
/// onto a slot's name (renameat2 of the hidden file onto the slot's host name: the atomic save).
/// At most <see cref="ViewLimits.ScratchFilesPerSlot"/> per slot, then EDQUOT.</para>
/// <para>Cleanup: when the slot grant ends (revoke, expiry, session end: seen at the next grant
/// table refresh) and when the view is destroyed, the remaining hidden files are unlinked, each
/// only after checking it is still the inode the broker created. A broker killed with SIGKILL
/// cannot do that: its <c>.spectrum-scratch-*</c> files stay behind. Nothing is recorded to find
/// them later, on purpose: a start-up sweep of slot directories would unlink host files by a name
/// pattern, which a host user's own file could match, and any lasting record of them would be
/// a new persisted format. Leftovers are harmless (mode as the guest created them, owned by the
/// tree owner, unreachable from every view that has no directory grant there) and can be removed
/// by the tree owner; the README says so.</para>
/// <para>Scratch files live only in synthesized directories: in a directory a grant covers (a
/// backed directory), creating and renaming follow that grant's rights as for any file.</para>
/// </remarks>
internal sealed partial class ViewFileSystem
{
    /// <summary>The host name prefix of scratch files; the rest is 16 random hex digits.</summary>
    internal const string ScratchPrefix = ".spectrum-scratch-";

    private const Rights SlotRights = Rights.Create | Rights.Write;

    private readonly Lock _scratchLock = new();
    private readonly List<ScratchFile> _scratch = [];

    /// <summary>How many scratch files are live: zero (the usual case) keeps them off every lookup's path.</summary>
    private volatile int _scratchCount;

    /// <summary>A scratch file: its guest name in a synthesized directory, and the hidden host file behind it.</summary>
    private sealed class ScratchFile(ViewGrant owner, string directory, byte[] guestName, byte[] hostName, ulong dev, ulong ino)
    {
        /// <summary>The slot grant it lives under (it is removed when that grant ends).</summary>
        public ViewGrant Owner { get; } = owner;

        /// <summary>The grants its node is under: the owner only (made once, so the node index key is stable).</summary>
        public ViewGrant[] Grants { get; } = [owner];

        /// <summary>The directory's tree path ("." for the tree root), as <see cref="TableNode.Path"/> has it.</summary>
        public string Directory { get; } = directory;

        public byte[] GuestName { get; set; } = guestName;

        public byte[] HostName { get; } = hostName;

        public ulong Dev { get; } = dev;

        public ulong Ino { get; } = ino;
    }

    /// <summary>The first live grant rooted at <paramref name="child"/> that is a file grant with <c>create</c>: a name the guest may create.</summary>
    private static ViewGrant? CreatableFileGrant(TableNode? child)
    {
        if (child is null)
        {
            return null;
        }

        foreach (var g in child.Grants)
        {
            if (!g.Ended && !g.IsDirectory && (g.Rights & Rights.Create) != 0)
            {
                return g;
            }
        }

        return null;
    }

    /// <summary>Whether a live file grant with <c>create</c> is rooted directly in <paramref name="at"/>: the guest may make something there.</summary>
    private static bool HoldsCreatableSlot(TableNode at)
    {
        foreach (var g in at.CreatableFileGrants)
        {
            if (!g.Ended)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The first live file grant with <c>create</c> and <c>write</c> rooted at <paramref name="child"/>.</summary>
    private static ViewGrant? SlotGrant(TableNode? child)
    {
        if (child is null)
        {
            return null;
        }

        foreach (var g in child.Grants)
        {
            if (!g.Ended && !g.IsDirectory && (g.Rights & SlotRights) == SlotRights)
            {
                return g;
            }
        }

        return null;
    }

    /// <summary>The slot grant scratch files in <paramref name="at"/> live under: the first slot directly in it, or null.</summary>
    private static ViewGrant? SlotIn(TableNode at)
    {
        foreach (var child in at.Children)
        {
            if (SlotGrant(child) is { } g)
            {
                return g;
            }
        }

        return null;
    }

    /// <summary>The live scratch file named <paramref name="name"/> in the directory at <paramref name="directory"/> (call under <see cref="_scratchLock"/>).</summary>
    private ScratchFile? FindScratchLocked(string directory, ReadOnlySpan<byte> name)
    {
        foreach (var s in _scratch)
        {
            if (!s.Owner.Ended && s.GuestName.AsSpan().SequenceEqual(name) && string.Equals(s.Directory, directory, StringComparison.Ordinal))
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>
    /// Creates (CREATE or MKNOD) where a slot or its scratch files allow it. <paramref name="handled"/>
    /// is false when neither applies: the caller then follows the usual rules.
    /// </summary>
    private Errno CreateInSlot(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, int flags, uint mode, uint umask, bool withHandle, ref FuseEntryOut entry, ref FuseOpenOut open, out bool handled)
    {
        handled = false;
        var dir = Live(parent);
        if (dir is null || !dir.IsDirectory || TableAt(dir) is not { } at)
        {
            return Errno.OK;
        }

        var child = at.Find(name);
        if (CreatableFileGrant(child) is { } slot && (dir.IsSynthesized || (dir.Rights & Rights.Create) == 0))
        {
            handled = true;
            return CreateSlotFile(context, dir, child!, slot, name, flags, mode, umask, withHandle, ref entry, ref open);
        }

        if (!dir.IsSynthesized || (child is not null && LeadsToLiveGrant(child)) || SlotIn(at) is not { } owner)
        {
            return Errno.OK;
        }

        handled = true;
        return CreateScratch(context, dir, at, owner, name, flags, mode, umask, withHandle, ref entry, ref open);
    }

    /// <summary>Creates a slot's own file, below the checked directory fd, never following a symlink.</summary>
    private Errno CreateSlotFile(in FuseRequestContext context, ViewNode dir, TableNode child, ViewGrant slot, ReadOnlySpan<byte> name, int flags, uint mode, uint umask, bool withHandle, ref FuseEntryOut entry, ref FuseOpenOut open)
    {
        if (TooLong(dir, name))
        {
            return Errno.ENAMETOOLONG;
        }

        var e = OpenGrantDirectory(slot, out var directory, out var stale);
        if (e != Errno.OK)
        {
            if (stale is not null)
            {
                _host.Stale(_vm, slot, stale);
            }

            return e;
        }

        SafeFd? fd;
        using (directory)
        {
            var access = withHandle ? (OpenFlags)flags & OpenFlags.AccessModeMask : OpenFlags.WriteOnly;
            if (access != OpenFlags.WriteOnly && (slot.Rights & Rights.Read) == 0)
            {
                access = OpenFlags.WriteOnly;
            }

            var kept = (OpenFlags)flags & (OpenFlags.Truncate | OpenFlags.Append);
            e = Posix.OpenAt(directory ?? _host.Tree.Fd, name, access | kept | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, mode & PermissionBits & ~umask, out fd);
        }

        if (e == Errno.EEXIST)
        {
            // Made meanwhile (or on the host): opened by the rules of Open, as a create of an existing name is.
            return withHandle && ((OpenFlags)flags & OpenFlags.Exclusive) == 0 ? OpenCreated(context, dir, child, name, flags, ref entry, ref open) : Errno.EEXIST;
        }

        if (e != Errno.OK)
        {
            return e;
        }

        GiveToOwner(fd!);
        SetCreationMode(fd!, mode, umask, directory: false);
        e = LookupGrantRoot(dir, name, child, ref entry);
        if (e != Errno.OK || !withHandle)
        {
            fd!.Dispose();
            return e;
        }

        // The creating handle may write what it created (as Create allows under read,create).
        return Register(Node(entry.NodeId)!, fd!, canWrite: true, isDirectory: false, ref open);
    }

    /// <summary>A create of a slot's name that exists by now: looked up and opened by the rules of Open.</summary>
    private Errno OpenCreated(in FuseRequestContext context, ViewNode dir, TableNode child, ReadOnlySpan<byte> name, int flags, ref FuseEntryOut entry, ref FuseOpenOut open)
    {
        var e = LookupGrantRoot(dir, name, child, ref entry);
        if (e != Errno.OK)
        {
            return e;
        }

        var existing = Node(entry.NodeId)!;
        e = Open(context, existing.Key, flags & ~(int)(OpenFlags.Create | OpenFlags.Exclusive), ref open);
        if (e != Errno.OK)
        {
            Forget(existing.Key, 1);
            entry = default;
            return e;
        }

        return FillBacked(existing, ref entry.Attr);
    }

    /// <summary>Creates a scratch file: a hidden host file next to the slot, shown under the guest's name.</summary>
    private Errno CreateScratch(in FuseRequestContext context, ViewNode dir, TableNode at, ViewGrant owner, ReadOnlySpan<byte> name, int flags, uint mode, uint umask, bool withHandle, ref FuseEntryOut entry, ref FuseOpenOut open)
    {
        if (TooLong(dir, name))
        {
            return Errno.ENAMETOOLONG;
        }

        SafeFd? fd;
        ScratchFile scratch;
        StatxResult st;
        lock (_scratchLock)
        {
            if (FindScratchLocked(at.Path, name) is not null)
            {
                if (withHandle && ((OpenFlags)flags & OpenFlags.Exclusive) == 0)
                {
                    var e1 = LookupScratch(dir, at, name, ref entry);
                    if (e1 != Errno.OK)
                    {
                        return e1;
                    }

                    var existing = Node(entry.NodeId)!;
                    e1 = Open(context, existing.Key, flags & ~(int)(OpenFlags.Create | OpenFlags.Exclusive), ref open);
                    if (e1 != Errno.OK)
                    {
                        Forget(existing.Key, 1);
                        entry = default;
                        return e1;
                    }

                    return FillBacked(existing, ref entry.Attr);
                }

                return Errno.EEXIST;
            }

            var count = 0;
            foreach (var s in _scratch)
            {
                if (s.Owner == owner)
                {
                    count++;
                }
            }

            if (count >= ViewLimits.ScratchFilesPerSlot)
            {
                return Deny("scratch-quota", dir, name, Errno.EDQUOT);
            }

            var e = OpenGrantDirectory(owner, out var directory, out var stale);
            if (e != Errno.OK)
            {
                if (stale is not null)
                {
                    _host.Stale(_vm, owner, stale);
                }

                return e;
            }

            using (directory)
            {
                var dirFd = directory ?? _host.Tree.Fd;
                var access = withHandle ? (OpenFlags)flags & OpenFlags.AccessModeMask : OpenFlags.WriteOnly;
                if (access != OpenFlags.WriteOnly && (owner.Rights & Rights.Read) == 0)
                {
                    access = OpenFlags.WriteOnly;
                }

                var hostName = NewScratchName();
                // 0600 until the guest's mode is set: no one else on the host can open it meanwhile.
                for (var attempt = 0; (e = Posix.OpenAt(dirFd, hostName, access | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, 0x180, out fd)) == Errno.EEXIST && attempt < 4; attempt++)
                {
                    hostName = NewScratchName();
                }

                if (e != Errno.OK)
                {
                    return e;
                }

                GiveToOwner(fd!);
                SetCreationMode(fd!, mode, umask, directory: false);
                e = Posix.Stat(fd!, out st);
                SafeFd? pathFd = null;
                if (e == Errno.OK)
                {
                    e = Posix.OpenAt(dirFd, hostName, OpenFlags.Path, 0, out pathFd);
                }

                if (e == Errno.OK && (Posix.Stat(pathFd!, out var check) != Errno.OK || check.Dev != st.Dev || check.Ino != st.Ino))
                {
                    e = Errno.EIO;
                }

                if (e != Errno.OK)
                {
                    pathFd?.Dispose();
                    fd!.Dispose();
                    UnlinkIfSame(dirFd, hostName, st.Dev, st.Ino);
                    return e;
                }

                scratch = new ScratchFile(owner, at.Path, name.ToArray(), hostName, st.Dev, st.Ino);
                _scratch.Add(scratch);
                _scratchCount = _scratch.Count;
                e = InternBacked(dir, name, scratch.Grants, pathFd!, st, out var node);
                if (e != Errno.OK)
                {
                    fd!.Dispose();
                    RemoveScratchLocked(scratch);
                    return e;
                }

                entry.NodeId = node.Key;
                SetTimeouts(ref entry, node.ExpiresAtMs);
                Fill(st, node.Rights, ref entry.Attr);
                if (!withHandle)
                {
                    fd!.Dispose();
                    return Errno.OK;
                }

                return Register(node, fd!, canWrite: true, isDirectory: false, ref open);
            }
        }
    }

    private static byte[] NewScratchName() =>
        System.Text.Encoding.ASCII.GetBytes(ScratchPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));

    /// <summary>A lookup of a scratch name in the synthesized directory <paramref name="p"/>: ENOENT when there is none.</summary>
    private Errno LookupScratch(ViewNode p, TableNode at, ReadOnlySpan<byte> name, ref FuseEntryOut entry)
    {
        ScratchFile? scratch;
        lock (_scratchLock)
        {
            scratch = FindScratchLocked(at.Path, name);
        }

        if (scratch is null)
        {
            return Errno.ENOENT;
        }

        var e = OpenGrantDirectory(scratch.Owner, out var directory, out _);
        if (e != Errno.OK)
        {
            return e;
        }

        SafeFd? fd;
        StatxResult st = default;
        using (directory)
        {
            e = Posix.OpenAt(directory ?? _host.Tree.Fd, scratch.HostName, OpenFlags.Path, 0, out fd);
            if (e == Errno.OK && (e = Posix.Stat(fd!, out st)) == Errno.OK && (st.Dev != scratch.Dev || st.Ino != scratch.Ino || !st.IsRegular))
            {
                // Replaced on the host: not the file the guest made.
                e = Errno.ENOENT;
            }
        }

        if (e != Errno.OK)
        {
            fd?.Dispose();
            return e.IsTransient() ? e : Errno.ENOENT;
        }

        e = InternBacked(p, name, scratch.Grants, fd!, st, out var node);
        if (e != Errno.OK)
        {
            return e;
        }

        entry.NodeId = node.Key;
        SetTimeouts(ref entry, node.ExpiresAtMs);
        Fill(st, node.Rights, ref entry.Attr);
        return Errno.OK;
    }

    /// <summary>The scratch files of a synthesized directory, for its listing (fixed when it is opened).</summary>
    private (byte[] Name, ulong Ino)[] ScratchEntries(TableNode? at)
    {
        if (_scratchCount == 0 || at is null)
        {
            return [];
        }

        lock (_scratchLock)
        {
            var list = new List<(byte[], ulong)>();
            foreach (var s in _scratch)
            {
                if (!s.Owner.Ended && string.Equals(s.Directory, at.Path, StringComparison.Ordinal))
                {
                    list.Add((s.GuestName, s.Ino));
                }
            }

            return [.. list];
        }
    }

    /// <summary>Unlinks a scratch file the guest names; <paramref name="handled"/> is false when it names none.</summary>
    private Errno UnlinkScratch(ulong parent, ReadOnlySpan<byte> name, out bool handled)
    {
        handled = false;
        if (_scratchCount == 0 || Live(parent) is not { IsSynthesized: true } dir || TableAt(dir) is not { } at)
        {
            return Errno.OK;
        }

        lock (_scratchLock)
        {
            if (FindScratchLocked(at.Path, name) is not { } scratch)
            {
                return Errno.OK;
            }

            handled = true;
            var e = OpenGrantDirectory(scratch.Owner, out var directory, out _);
            if (e != Errno.OK)
            {
                return e;
            }

            using (directory)
            {
                e = UnlinkIfSame(directory ?? _host.Tree.Fd, scratch.HostName, scratch.Dev, scratch.Ino);
            }

            if (!e.IsTransient())
            {
                // Gone, or replaced on the host by something the broker did not make (left alone): the guest's name is gone either way.
                RemoveScratchLocked(scratch);
            }

            return e.IsTransient() ? e : Errno.OK;
        }
    }

    /// <summary>
    /// A rename whose source is a scratch file: onto a slot's name (the save: the hidden file
    /// replaces the slot's file atomically), or onto another scratch name, or to a new name in the
    /// same directory (only the guest's name changes). <paramref name="handled"/> is false when the
    /// source is no scratch file: the usual rules apply.
    /// </summary>
    private Errno RenameScratch(ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, FuseRenameFlags flags, out bool handled)
    {
        handled = false;
        if (_scratchCount == 0 || Live(parent) is not { IsSynthesized: true } dir || TableAt(dir) is not { } at)
        {
            return Errno.OK;
        }

        lock (_scratchLock)
        {
            if (FindScratchLocked(at.Path, name) is not { } source)
            {
                return Errno.OK;
            }

            handled = true;
            var to = Live(newParent);
            if (to != dir)
            {
                return to is null ? Errno.ENOENT : Deny("rename-scratch-out", dir, name, Errno.EXDEV);
            }

            if ((flags & ~FuseRenameFlags.NoReplace) != 0)
            {
                return Deny("rename-scratch-exchange", dir, name);
            }

            if (TooLong(dir, newName))
            {
                return Errno.ENAMETOOLONG;
            }

            if (name.SequenceEqual(newName))
            {
                return Errno.OK;
            }

            var child = at.Find(newName);
            var target = FindScratchLocked(at.Path, newName);
            ViewGrant? slot = null;
            if (child is not null && LeadsToLiveGrant(child))
            {
                slot = SlotGrant(child);
                if (slot is null)
                {
                    // A grant without create and write, or a synthesized directory: as any rename in a synthesized directory.
                    return Deny("rename", dir, newName);
                }
            }

            if (slot is null && target is null)
            {
                // A new guest name for the same hidden file.
                source.GuestName = newName.ToArray();
                return Errno.OK;
            }

            if (target is not null && (flags & FuseRenameFlags.NoReplace) != 0)
            {
                return Errno.EEXIST;
            }

            var e = OpenGrantDirectory(source.Owner, out var directory, out _);
            if (e != Errno.OK)
            {
                return e;
            }

            using (directory)
            {
                var dirFd = directory ?? _host.Tree.Fd;
                if (Posix.StatAt(dirFd, source.HostName, out var st) != Errno.OK || st.Dev != source.Dev || st.Ino != source.Ino)
                {
                    RemoveScratchLocked(source);
                    return Errno.ENOENT;
                }

                if (slot is not null)
                {
                    // The slot's directory is the scratch file's (both are rooted in this one
                    // directory); checked against the slot's own record too before the rename.
                    if (OpenGrantDirectory(slot, out var slotDirectory, out _) != Errno.OK)
                    {
                        return Errno.ENOENT;
                    }

                    using (slotDirectory)
                    {
                        if (Posix.Stat(slotDirectory ?? _host.Tree.Fd, out var a) != Errno.OK || Posix.Stat(dirFd, out var b) != Errno.OK || a.Dev != b.Dev || a.Ino != b.Ino)
                        {
                            return Errno.ENOENT;
                        }
                    }

                    e = Posix.RenameAt(dirFd, source.HostName, dirFd, newName, (RenameFlags)(uint)flags);
                    if (e == Errno.OK)
                    {
                        // The hidden file is the slot's file now: an ordinary file of that grant.
                        RemoveScratchLocked(source);
                    }

                    return e;
                }

                e = Posix.RenameAt(dirFd, source.HostName, dirFd, target!.HostName, RenameFlags.None);
                if (e == Errno.OK)
                {
                    // The target's hidden name now holds the source's file: the source record goes, the target's takes its inode.
                    _scratch.Remove(target);
                    _scratch.Remove(source);
                    _scratch.Add(new ScratchFile(source.Owner, source.Directory, newName.ToArray(), target.HostName, source.Dev, source.Ino));
                    _scratchCount = _scratch.Count;
                }

                return e;
            }
        }
    }

    /// <summary>Unlinks <paramref name="hostName"/> in <paramref name="dirFd"/> if it is still the inode <paramref name="dev"/>/<paramref name="ino"/>.</summary>
    private static Errno UnlinkIfSame(SafeFd dirFd, ReadOnlySpan<byte> hostName, ulong dev, ulong ino)
    {
        var e = Posix.StatAt(dirFd, hostName, out var st);
        if (e != Errno.OK)
        {
            return e;
        }

        // Names are broker-chosen and random; a host process racing to swap one between this check
        // and the unlink could only make the broker unlink its own swapped-in file.
        return st.Dev == dev && st.Ino == ino ? Posix.UnlinkAt(dirFd, hostName, directory: false) : Errno.ESTALE;
    }

    private void RemoveScratchLocked(ScratchFile scratch)
    {
        _scratch.Remove(scratch);
        _scratchCount = _scratch.Count;
    }

    /// <summary>
    /// Unlinks the hidden files of scratch files whose slot grant has ended (<paramref name="all"/>:
    /// every one, the view is going). Called after each grant table refresh and at Destroy.
    /// </summary>
    private void RemoveScratch(bool all)
    {
        if (_scratchCount == 0)
        {
            return;
        }

        lock (_scratchLock)
        {
            foreach (var s in _scratch.ToList())
            {
                if (!all && !s.Owner.Ended)
                {
                    continue;
                }

                // The directory is checked against the grant's record even when the grant has ended: only the inode the broker made, where it made it.
                if (OpenGrantDirectory(s.Owner, out var directory, out _) == Errno.OK)
                {
                    using (directory)
                    {
                        UnlinkIfSame(directory ?? _host.Tree.Fd, s.HostName, s.Dev, s.Ino);
                    }
                }

                RemoveScratchLocked(s);
            }
        }
    }
}
