using Spectrum.Capabilities;
using Spectrum.Interop;

namespace Spectrum.Broker.Grants;

/// <summary>
/// The global tree, held open as an O_PATH fd. Grant roots are resolved below it with openat2
/// (never a host path string), so '..', symlinks, magic links and mount crossings cannot escape.
/// </summary>
public sealed class TreeRoot : IDisposable
{
    public TreeRoot(string path)
    {
        if (!System.IO.Path.IsPathFullyQualified(path))
        {
            throw new ArgumentException($"the tree must be an absolute path, got '{path}'", nameof(path));
        }

        Path = path;
        Fd = Files.OpenDirectoryPath(path);
        Owner = Files.Stat(Fd).Uid;
    }

    /// <summary>The tree's absolute host path (for messages and the admin; never used to resolve grants).</summary>
    public string Path { get; }

    /// <summary>The O_PATH fd every resolution starts from.</summary>
    public SafeFd Fd { get; }

    /// <summary>The uid that owns the tree root: with root, the only admin.</summary>
    public uint Owner { get; }

    /// <summary>
    /// Resolves a grant root: its kind and identity. Only regular files and directories can be
    /// granted; a path through a symlink, out of the tree or across a mount is refused.
    /// </summary>
    public (string Kind, FileIdentity Identity) Resolve(TreePath path)
    {
        var (kind, identity, _) = ResolveWithParent(path);
        return (kind, identity);
    }

    /// <summary>
    /// Like <see cref="Resolve"/>, and also the identity of the containing directory (null for the
    /// tree root): a file grant is checked against its directory, so that an editor's atomic
    /// save (write a temporary file, rename it over the original) keeps the grant working.
    /// </summary>
    /// <remarks>
    /// A transient error (EMFILE, ENFILE, ENOMEM, EINTR, EAGAIN) is a <see cref="BrokerRefusal"/> of
    /// kind <see cref="RefusalKind.Unavailable"/>: it says nothing about the path, so callers must
    /// neither record a grant stale nor answer 500 for it.
    /// </remarks>
    public (string Kind, FileIdentity Identity, FileIdentity? Parent) ResolveWithParent(TreePath path)
    {
        try
        {
            return ResolveWithParentOrThrow(path);
        }
        catch (SysCallException e) when (e.Errno.IsTransient())
        {
            throw BrokerRefusal.Unavailable(e.Errno);
        }
    }

    /// <summary>
    /// Like <see cref="ResolveWithParent"/> for a named slot (<see cref="GrantSpec.MayNotExist"/>):
    /// the directory must exist (its identity is returned), the name need not. An absent name is a
    /// file grant with no identity of its own (null); an existing one must be a regular file.
    /// </summary>
    public (string Kind, FileIdentity? Identity, FileIdentity? Parent) ResolveSlot(TreePath path)
    {
        try
        {
            return ResolveSlotOrThrow(path);
        }
        catch (SysCallException e) when (e.Errno.IsTransient())
        {
            throw BrokerRefusal.Unavailable(e.Errno);
        }
    }

    private (string Kind, FileIdentity? Identity, FileIdentity? Parent) ResolveSlotOrThrow(TreePath path)
    {
        if (path.IsRoot)
        {
            throw BrokerRefusal.Bad("the tree root is a directory and cannot be a slot for a new file; name a file inside a folder");
        }

        var slash = path.Value.LastIndexOf('/');
        var folder = slash < 0 ? "." : path.Value[..slash];
        SafeFd? directory = null;
        try
        {
            if (slash >= 0)
            {
                try
                {
                    directory = Files.OpenBeneath(Fd, folder);
                }
                catch (SysCallException e) when (e.Errno is Errno.ENOENT or Errno.ENOTDIR)
                {
                    throw BrokerRefusal.NotFound($"the folder '{folder}' of '{path}' does not exist in the tree {Path}; create the folder first, or check the spelling (paths are relative to the tree)");
                }
                catch (SysCallException e) when (e.Errno is Errno.ELOOP or Errno.EXDEV)
                {
                    throw BrokerRefusal.Bad($"the folder '{folder}' of '{path}' cannot be granted: {e.Message.Split(": ", 2)[^1]}; grant the real path, not one through a symlink or mount point");
                }
            }

            var dirFd = directory ?? Fd;
            if (!Files.Stat(dirFd).IsDirectory)
            {
                throw BrokerRefusal.NotFound($"'{folder}' in the tree {Path} is not a folder, so '{path}' cannot be made there; name a file inside a folder");
            }

            var parent = Files.Identify(dirFd);
            var name = slash < 0 ? path.Value : path.Value[(slash + 1)..];
            var e2 = Posix.OpenAt(dirFd, System.Text.Encoding.UTF8.GetBytes(name), OpenFlags.Path, 0, out var leaf);
            if (e2 == Errno.ENOENT)
            {
                return (GrantKinds.File, null, parent);
            }

            if (e2 != Errno.OK)
            {
                throw e2.IsTransient() ? BrokerRefusal.Unavailable(e2) : BrokerRefusal.Bad($"'{path}' cannot be granted: {e2}");
            }

            using (leaf)
            {
                var stat = Files.Stat(leaf!);
                if (!stat.IsRegular)
                {
                    throw BrokerRefusal.Bad($"'{path}' is {(stat.IsDirectory ? "a folder" : stat.IsSymlink ? "a symlink" : "a device, FIFO or socket")}; a slot for saving can only be a regular file or a name that does not exist yet");
                }

                return (GrantKinds.File, Files.Identify(leaf!), parent);
            }
        }
        finally
        {
            directory?.Dispose();
        }
    }

    private (string Kind, FileIdentity Identity, FileIdentity? Parent) ResolveWithParentOrThrow(TreePath path)
    {
        if (path.IsRoot)
        {
            return (GrantKinds.Directory, Files.Identify(Fd), null);
        }

        var (kind, identity) = ResolveBelow(path);
        var slash = path.Value.LastIndexOf('/');
        if (slash < 0)
        {
            return (kind, identity, Files.Identify(Fd));
        }

        using var parent = Files.OpenBeneath(Fd, path.Value[..slash]);
        return (kind, identity, Files.Identify(parent));
    }

    private (string Kind, FileIdentity Identity) ResolveBelow(TreePath path)
    {
        SafeFd fd;
        try
        {
            fd = Files.OpenBeneath(Fd, path.Value);
        }
        catch (SysCallException e) when (e.Errno == Errno.ENOENT)
        {
            throw BrokerRefusal.NotFound($"'{path}' does not exist in the tree {Path}; create it first, or check the spelling (paths are relative to the tree)");
        }
        catch (SysCallException e) when (e.Errno is Errno.ELOOP or Errno.EXDEV or Errno.ENOTDIR)
        {
            throw BrokerRefusal.Bad($"'{path}' cannot be granted: {e.Message.Split(": ", 2)[^1]}; grant the real path, not one through a symlink or mount point");
        }

        using (fd)
        {
            var stat = Files.Stat(fd);
            if (!stat.IsDirectory && !stat.IsRegular)
            {
                throw BrokerRefusal.Bad($"'{path}' is {(stat.IsSymlink ? "a symlink" : "a device, FIFO or socket")}; only regular files and directories can be granted");
            }

            return (stat.IsDirectory ? GrantKinds.Directory : GrantKinds.File, Files.Identify(fd));
        }
    }

    public void Dispose() => Fd.Dispose();
}
