using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

[assembly: InternalsVisibleTo("Spectrum.Interop.Tests")]

namespace Spectrum.Interop;

/// <summary>
/// fd-relative POSIX operations for the data path (the FUSE view filesystem). Every call returns an
/// <see cref="Errno"/> (<see cref="Errno.OK"/> on success) with its results in out parameters: none
/// throws and none allocates, except that a successful open allocates the <see cref="SafeFd"/> it
/// returns. Names are bytes (<see cref="ReadOnlySpan{T}"/> of UTF-8 or whatever the filesystem holds),
/// with or without a trailing NUL; a parameter called <c>name</c> is one path component (no <c>/</c>,
/// not <c>.</c> or <c>..</c>, at most <see cref="NameMax"/> bytes), so an <c>*at</c> call can never
/// walk out of the directory it is given. A null or closed <see cref="SafeFd"/> is <see cref="Errno.EBADF"/>.
/// Flag and struct values are the x86_64 ones; the tests check them against the C headers.
/// </summary>
[SkipLocalsInit]
public static partial class Posix
{
    /// <summary>NAME_MAX: the longest path component, in bytes.</summary>
    public const int NameMax = 255;

    /// <summary>PATH_MAX: the longest path, in bytes, including its terminating NUL.</summary>
    public const int PathMax = 4096;

    /// <summary>Pass as uid or gid to <see cref="Chown"/> to leave it unchanged ((uid_t)-1).</summary>
    public const uint NoChange = uint.MaxValue;

    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const int AT_REMOVEDIR = 0x200;
    internal const int AT_SYMLINK_FOLLOW = 0x400;
    internal const int AT_EMPTY_PATH = 0x1000;

    // "/proc/self/fd/" plus at most 10 digits plus NUL.
    private const int ProcFdPathSize = 32;

    /// <summary>The empty path for AT_EMPTY_PATH calls: a literal in the image's data, so pinning it is free.</summary>
    private static ReadOnlySpan<byte> Empty => "\0"u8;

    private static Errno LastErrno() => (Errno)Marshal.GetLastPInvokeError();

    /// <summary>
    /// Copies one path component into <paramref name="buffer"/> (at least NameMax + 1 bytes) with a
    /// terminating NUL, refusing anything that would make an <c>*at</c> call leave its directory.
    /// </summary>
    internal static Errno CopyName(ReadOnlySpan<byte> name, Span<byte> buffer)
    {
        if (!name.IsEmpty && name[^1] == 0)
        {
            name = name[..^1];
        }

        if (name.IsEmpty)
        {
            return Errno.ENOENT;
        }

        if (name.Length > NameMax)
        {
            return Errno.ENAMETOOLONG;
        }

        if (name.IndexOfAny((byte)'/', (byte)0) >= 0 || (name[0] == '.' && (name.Length == 1 || (name.Length == 2 && name[1] == '.'))))
        {
            return Errno.EINVAL;
        }

        name.CopyTo(buffer);
        buffer[name.Length] = 0;
        return Errno.OK;
    }

    /// <summary>Copies a path (or a symlink target) into <paramref name="buffer"/> (PathMax bytes) with a terminating NUL.</summary>
    internal static Errno CopyPath(ReadOnlySpan<byte> path, Span<byte> buffer)
    {
        if (!path.IsEmpty && path[^1] == 0)
        {
            path = path[..^1];
        }

        if (path.IsEmpty)
        {
            return Errno.ENOENT;
        }

        if (path.Length >= buffer.Length)
        {
            return Errno.ENAMETOOLONG;
        }

        if (path.IndexOf((byte)0) >= 0)
        {
            return Errno.EINVAL;
        }

        path.CopyTo(buffer);
        buffer[path.Length] = 0;
        return Errno.OK;
    }

    /// <summary>Writes "/proc/self/fd/N\0" into <paramref name="buffer"/> (ProcFdPathSize bytes).</summary>
    internal static void ProcFdPath(int fd, Span<byte> buffer)
    {
        "/proc/self/fd/"u8.CopyTo(buffer);
        Utf8Formatter.TryFormat(fd, buffer[14..], out var written);
        buffer[14 + written] = 0;
    }

    /// <summary>
    /// A reference on a <see cref="SafeFd"/> held for the length of one raw call
    /// (DangerousAddRef/DangerousRelease), so a concurrent Dispose cannot close and recycle the
    /// number under the call. <see cref="Ok"/> is false for a null or already closed handle.
    /// </summary>
    private ref struct Held
    {
        private readonly SafeFd? _handle;

        public Held(SafeFd? handle)
        {
            Fd = -1;
            if (handle is null)
            {
                return;
            }

            var added = false;
            try
            {
                handle.DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            if (added)
            {
                _handle = handle;
                Fd = (int)handle.DangerousGetHandle();
            }
        }

        public readonly int Fd { get; }

        public readonly bool Ok => _handle is not null;

        public readonly void Dispose() => _handle?.DangerousRelease();
    }
}
