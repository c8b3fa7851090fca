using System.Globalization;
using System.Text;
using Spectrum.Interop;

namespace Spectrum.FuseFs;

/// <summary>
/// A mounted FUSE connection: mount(2) when privileged, else fusermount3; lazy unmount on
/// dispose. Also finds and clears stale mounts of ours left by a crashed process.
/// </summary>
public sealed class FuseMount : IDisposable
{
    private readonly bool _viaHelper;
    private int _unmounted;

    private FuseMount(string mountPoint, FuseDeviceChannel channel, bool viaHelper)
    {
        MountPoint = mountPoint;
        Channel = channel;
        _viaHelper = viaHelper;
    }

    public string MountPoint { get; }

    /// <summary>The connection's first channel; the session clones one per reader thread.</summary>
    public FuseDeviceChannel Channel { get; }

    /// <summary>
    /// Mounts a new FUSE connection at <paramref name="mountPoint"/> (an existing directory).
    /// Root (CAP_SYS_ADMIN) mounts with mount(2); anyone else through fusermount3 from fuse3.
    /// The kernel's INIT is waiting on the channel when this returns: start a session on it.
    /// </summary>
    public static FuseMount Mount(string mountPoint, FuseMountOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        mountPoint = Path.GetFullPath(mountPoint);
        var fuseOptions = new StringBuilder();
        if (options.AllowOther)
        {
            fuseOptions.Append("allow_other");
        }

        if (options.DefaultPermissions)
        {
            fuseOptions.Append(fuseOptions.Length == 0 ? "" : ",").Append("default_permissions");
        }

        if (!options.ForceFusermount && Files.EffectiveUid == 0)
        {
            var fd = FuseDevice.Open();
            try
            {
                var flags = Spectrum.Interop.Mount.MS_NOSUID | Spectrum.Interop.Mount.MS_NODEV
                    | (options.ReadOnly ? Spectrum.Interop.Mount.MS_RDONLY : 0);
                FuseDevice.Mount(fd, mountPoint, options.Name, fuseOptions.ToString(), flags);
            }
            catch
            {
                fd.Dispose();
                throw;
            }

            return new FuseMount(mountPoint, new FuseDeviceChannel(fd), viaHelper: false);
        }

        var helperOptions = new StringBuilder().Append(CultureInfo.InvariantCulture, $"fsname={options.Name},subtype={options.Name},nosuid,nodev");
        if (fuseOptions.Length > 0)
        {
            helperOptions.Append(',').Append(fuseOptions);
        }

        if (options.ReadOnly)
        {
            helperOptions.Append(",ro");
        }

        var helperFd = FuseUserMount.Mount(mountPoint, helperOptions.ToString());
        return new FuseMount(mountPoint, new FuseDeviceChannel(helperFd), viaHelper: true);
    }

    /// <summary>Detaches the mount (MNT_DETACH: gone from the namespace now, torn down when the last open file closes). Idempotent.</summary>
    public void Unmount()
    {
        if (Interlocked.Exchange(ref _unmounted, 1) != 0)
        {
            return;
        }

        if (_viaHelper)
        {
            FuseUserMount.Unmount(MountPoint);
        }
        else
        {
            Spectrum.Interop.Mount.Unmount(MountPoint, Spectrum.Interop.Mount.MNT_DETACH | Spectrum.Interop.Mount.UMOUNT_NOFOLLOW);
        }
    }

    /// <summary>Unmounts and closes the channel.</summary>
    public void Dispose()
    {
        Unmount();
        Channel.Dispose();
    }

    /// <summary>
    /// Clears stale mounts of ours at <paramref name="mountPoint"/>: every mount there of type
    /// <c>fuse.<paramref name="name"/></c> whose server is gone (stat answers ENOTCONN) is
    /// detached. A live mount, or anyone else's, is left alone. Returns how many were detached.
    /// </summary>
    public static int CleanupStale(string mountPoint, string name = "spectrum")
    {
        mountPoint = Path.GetFullPath(mountPoint).TrimEnd('/');
        if (mountPoint.Length == 0)
        {
            mountPoint = "/";
        }

        var detached = 0;
        // Stacked mounts: clear from the top while the topmost is ours and dead.
        for (var round = 0; round < 16; round++)
        {
            var top = FindMounts(mountPoint).LastOrDefault();
            if (top.FsType != "fuse." + name || Spectrum.Interop.Mount.Probe(mountPoint) != FuseErrno.ENOTCONN)
            {
                break;
            }

            var errno = Files.EffectiveUid == 0
                ? Spectrum.Interop.Mount.Unmount(mountPoint, Spectrum.Interop.Mount.MNT_DETACH | Spectrum.Interop.Mount.UMOUNT_NOFOLLOW)
                : (FuseUserMount.Unmount(mountPoint) ? Errno.OK : Errno.EPERM);
            if (errno != Errno.OK)
            {
                break;
            }

            detached++;
        }

        return detached;
    }

    /// <summary>
    /// Aborts a FUSE connection through fusectl (<c>/sys/fs/fuse/connections/ID/abort</c>),
    /// mounting fusectl first if nobody has (systemd usually does). Root only; false if it failed.
    /// </summary>
    internal static bool AbortConnection(string connectionId)
    {
        const string Control = "/sys/fs/fuse/connections";
        try
        {
            if (!Directory.Exists(Path.Combine(Control, connectionId)) && Files.EffectiveUid == 0)
            {
                Spectrum.Interop.Mount.MountFilesystem("fusectl", Control, "fusectl", 0, "");
            }

            File.WriteAllText(Path.Combine(Control, connectionId, "abort"), "1");
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The mounts at <paramref name="mountPoint"/>, bottom to top, from /proc/self/mountinfo.</summary>
    internal static List<(string MountPoint, string FsType)> FindMounts(string mountPoint)
    {
        var found = new List<(string, string)>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 1 >= fields.Length)
            {
                continue;
            }

            var point = Unescape(fields[4]);
            if (point == mountPoint)
            {
                found.Add((point, fields[separator + 1]));
            }
        }

        return found;
    }

    /// <summary>mountinfo escapes space, tab, newline and backslash as \ooo (octal).</summary>
    internal static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var bytes = new List<byte>(field.Length);
        var raw = Encoding.UTF8.GetBytes(field);
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\\' && i + 3 < raw.Length
                && IsOctal(raw[i + 1]) && IsOctal(raw[i + 2]) && IsOctal(raw[i + 3]))
            {
                bytes.Add((byte)(((raw[i + 1] - '0') << 6) | ((raw[i + 2] - '0') << 3) | (raw[i + 3] - '0')));
                i += 3;
            }
            else
            {
                bytes.Add(raw[i]);
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(byte b) => b is >= (byte)'0' and <= (byte)'7';
}
