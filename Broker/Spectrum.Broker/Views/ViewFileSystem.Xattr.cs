using System.Buffers;
using Spectrum.Capabilities;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Broker.Views;

/// <summary>
/// Extended attributes: a view shows, reads and writes only the <c>user.</c> namespace. The broker
/// reads the host as root, so <c>trusted.*</c> and <c>security.*</c> (and any other namespace) are
/// hidden from listxattr and read as absent (ENODATA), never passed on. POSIX ACLs
/// (<c>system.posix_acl_access</c>, <c>system.posix_acl_default</c>) and the rest of
/// <c>system.*</c> answer EOPNOTSUPP, as a filesystem mounted without ACL support does.
/// </summary>
internal sealed partial class ViewFileSystem
{
    /// <summary>How a view treats one xattr name.</summary>
    private enum XattrKind
    {
        /// <summary><c>user.*</c>: read with <c>read</c>, written with <c>setattr</c>.</summary>
        User,

        /// <summary><c>system.*</c>, ACLs among them: not supported by a view.</summary>
        Unsupported,

        /// <summary><c>trusted.*</c>, <c>security.*</c>, anything else: host privileges, never shown.</summary>
        Hidden,
    }

    private static XattrKind KindOf(ReadOnlySpan<byte> name) =>
        name.StartsWith("user."u8) ? XattrKind.User
        : name.StartsWith("system."u8) ? XattrKind.Unsupported
        : XattrKind.Hidden;

    public override Errno GetXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name, Span<byte> value, out int size)
    {
        size = 0;
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        switch (KindOf(name))
        {
            case XattrKind.Unsupported:
                // getfacl, ls -l and cp -p then see "no ACLs here" and use the mode bits. The kernel
                // (fs/fuse/acl.c, without FUSE_POSIX_ACL) passes ACL reads to us and this answer back.
                return Errno.EOPNOTSUPP;
            case XattrKind.Hidden:
                // As if absent: a guest learns neither the value nor that there is one.
                return Errno.ENODATA;
        }

        if (n.IsSynthesized)
        {
            return Errno.ENODATA;
        }

        return (n.Rights & Rights.Read) == 0 ? Deny("getxattr", n) : Posix.GetXattrOPath(n.Fd!, name, value, out size);
    }

    public override Errno ListXattr(in FuseRequestContext context, ulong node, Span<byte> list, out int size)
    {
        size = 0;
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        return n.IsSynthesized ? Errno.OK : (n.Rights & Rights.Read) == 0 ? Deny("listxattr", n) : ListUserXattrs(n.Fd!, list, out size);
    }

    public override Errno SetXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, int flags)
    {
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        if (n.IsSynthesized || (n.Rights & Rights.SetAttr) == 0)
        {
            return Deny("setxattr", n);
        }

        return KindOf(name) == XattrKind.User ? Posix.SetXattrOPath(n.Fd!, name, value, (XattrFlags)flags) : Unsupported("setxattr", n, name);
    }

    public override Errno RemoveXattr(in FuseRequestContext context, ulong node, ReadOnlySpan<byte> name)
    {
        var n = Live(node);
        if (n is null)
        {
            return Errno.ENOENT;
        }

        if (n.IsSynthesized || (n.Rights & Rights.SetAttr) == 0)
        {
            return Deny("removexattr", n);
        }

        return KindOf(name) == XattrKind.User ? Posix.RemoveXattrOPath(n.Fd!, name) : Unsupported("removexattr", n, name);
    }

    /// <summary>
    /// Writing a non-user xattr. EOPNOTSUPP rather than EPERM: it is what a filesystem without that
    /// namespace answers, and what programs are written to expect. coreutils (cp -p, cp -a, mv,
    /// install) then set the mode with chmod instead of an ACL, and skip xattrs they cannot copy
    /// without a warning (gnulib's qset_acl and libattr's attr_copy treat ENOTSUP as "not here");
    /// with EPERM install and cp -p fail and mv warns on every file. ACL writes are not audited
    /// (every cp -p makes one); trusted/security writes are, as denials.
    /// </summary>
    private Errno Unsupported(string op, ViewNode n, ReadOnlySpan<byte> name) =>
        KindOf(name) == XattrKind.Hidden ? Deny(op + "-privileged", n, errno: Errno.EOPNOTSUPP) : Errno.EOPNOTSUPP;

    /// <summary>
    /// The host's xattr names of <paramref name="fd"/> with all but <c>user.*</c> left out, in
    /// <paramref name="list"/> (or, when it is empty, only the size that list needs). The host list
    /// is read whole into a pooled buffer (XATTR_LIST_MAX is 64 KiB): the guest's buffer is sized
    /// for the filtered list, which the host's may exceed.
    /// </summary>
    private static Errno ListUserXattrs(SafeFd fd, Span<byte> list, out int size)
    {
        size = 0;
        for (var attempt = 0; ; attempt++)
        {
            var e = Posix.ListXattrOPath(fd, [], out var needed);
            if (e != Errno.OK || needed == 0)
            {
                return e;
            }

            var host = ArrayPool<byte>.Shared.Rent(needed);
            try
            {
                e = Posix.ListXattrOPath(fd, host.AsSpan(0, needed), out var length);
                if (e == Errno.ERANGE && attempt < 3)
                {
                    continue; // the host's list grew in between: ask again
                }

                if (e != Errno.OK)
                {
                    return e;
                }

                var total = 0;
                foreach (var name in new XattrNameReader(host.AsSpan(0, length)))
                {
                    if (KindOf(name) != XattrKind.User)
                    {
                        continue;
                    }

                    if (!list.IsEmpty)
                    {
                        if (total + name.Length + 1 > list.Length)
                        {
                            return Errno.ERANGE;
                        }

                        name.CopyTo(list[total..]);
                        list[total + name.Length] = 0;
                    }

                    total += name.Length + 1;
                }

                size = total;
                return Errno.OK;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(host);
            }
        }
    }
}
