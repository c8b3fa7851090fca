using System.Diagnostics;
using System.Text;

namespace Spectrum.Interop.Tests;

/// <summary>A scratch directory with an O_PATH fd on it; deleted on dispose.</summary>
public sealed class TempTree : IDisposable
{
    public TempTree(string? parent = null)
    {
        if (parent is null)
        {
            Path = Directory.CreateTempSubdirectory("spectrum-posix-").FullName;
        }
        else
        {
            Path = System.IO.Path.Combine(parent, "spectrum-posix-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        Root = Files.OpenDirectoryPath(Path);
    }

    public string Path { get; }

    /// <summary>O_PATH | O_DIRECTORY fd of <see cref="Path"/>.</summary>
    public SafeFd Root { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public string File(string relative, string content = "")
    {
        var full = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllText(full, content);
        return full;
    }

    public string Dir(string relative) => Directory.CreateDirectory(this[relative]).FullName;

    public string Symlink(string relative, string target)
    {
        var full = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.CreateSymbolicLink(full, target);
        return full;
    }

    /// <summary>Opens a relative path below the root (no symlinks), asserting success.</summary>
    public SafeFd Open(string relative, OpenFlags flags, uint mode = 0)
    {
        var errno = Posix.OpenBeneath(Root, T.B(relative), flags, mode, out var fd);
        Assert.Equal(Errno.OK, errno);
        return fd!;
    }

    public void Dispose()
    {
        Root.Dispose();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A test that failed half way may leave a mount behind; leave the directory rather than mask the failure.
        }
    }
}

/// <summary>Small helpers.</summary>
public static class T
{
    public static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    public static string S(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>Runs a program, returning its exit code and combined output.</summary>
    public static (int Exit, string Output) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }
}

/// <summary>A fact that needs root (mount --bind, chown to another uid, linkat AT_EMPTY_PATH).</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (Files.EffectiveUid != 0)
        {
            Skip = "needs root (CAP_SYS_ADMIN / CAP_CHOWN / CAP_DAC_READ_SEARCH)";
        }
    }
}

/// <summary>A fact that needs user.* xattrs on <see cref="Dir"/>; skipped only when that filesystem refuses them.</summary>
public sealed class UserXattrFactAttribute : FactAttribute
{
    /// <summary>/var/tmp: on disk (ext4 here), where /tmp may be tmpfs.</summary>
    public const string Dir = "/var/tmp";

    private static readonly Lazy<string?> s_unsupported = new(Probe);

    public UserXattrFactAttribute()
    {
        if (s_unsupported.Value is { } reason)
        {
            Skip = reason;
        }
    }

    private static string? Probe()
    {
        using var tree = new TempTree(Dir);
        tree.File("probe");
        using var fd = tree.Open("probe", OpenFlags.ReadWrite);
        var errno = Posix.SetXattr(fd, "user.probe"u8, "1"u8, XattrFlags.None);
        return errno is Errno.EOPNOTSUPP
            ? $"the filesystem of {Dir} does not support user.* extended attributes (EOPNOTSUPP)"
            : null;
    }
}
