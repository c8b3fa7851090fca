using System.Runtime.InteropServices;
using Spectrum.Interop;

namespace Spectrum.FuseFs;

/// <summary>
/// A transport of FUSE messages: <c>/dev/fuse</c> today (<see cref="FuseDeviceChannel"/>), a
/// vhost-user-fs virtqueue later, an in-memory queue in tests. Message-framed: one receive is one
/// whole request, one send is one whole reply or notification.
/// </summary>
public interface IFuseChannel : IDisposable
{
    /// <summary>
    /// Blocks for the next request and copies it into <paramref name="buffer"/>. Returns
    /// <see cref="Errno.OK"/> with its length, <see cref="Errno.ENODEV"/> when the connection is
    /// gone (unmounted, aborted, closed), or another errno for a failure the reader should stop on.
    /// </summary>
    Errno Receive(Span<byte> buffer, out int length);

    /// <summary>
    /// Sends one reply or notification. <see cref="Errno.ENOENT"/> means the kernel no longer waits
    /// for that request (it was interrupted or aborted).
    /// </summary>
    Errno Send(ReadOnlySpan<byte> message);

    /// <summary>
    /// A channel on the same connection for another reader thread. Replies must go out on the
    /// channel their request came in on. A transport without per-reader endpoints returns itself.
    /// </summary>
    IFuseChannel Clone();
}

/// <summary>A channel that can register kernel passthrough backing files (only /dev/fuse can).</summary>
public interface IFuseBackingChannel
{
    /// <summary>Registers <paramref name="backing"/>; a backing id &gt; 0, or a negative errno.</summary>
    int OpenBacking(SafeHandle backing);

    Errno CloseBacking(int backingId);
}

/// <summary>The <c>/dev/fuse</c> transport: one fd per reader (FUSE_DEV_IOC_CLONE).</summary>
public sealed class FuseDeviceChannel : IFuseChannel, IFuseBackingChannel
{
    private readonly SafeFd _fd;
    private readonly FuseDeviceChannel? _origin;

    /// <summary>Takes ownership of <paramref name="fd"/>, an fd on /dev/fuse.</summary>
    public FuseDeviceChannel(SafeFd fd)
    {
        _fd = fd;
    }

    private FuseDeviceChannel(SafeFd fd, FuseDeviceChannel origin)
    {
        _fd = fd;
        _origin = origin;
    }

    /// <summary>The fd (for mount(2)).</summary>
    public SafeFd Fd => _fd;

    public Errno Receive(Span<byte> buffer, out int length) => FuseDevice.Read(_fd, buffer, out length);

    public Errno Send(ReadOnlySpan<byte> message) => FuseDevice.Write(_fd, message);

    public IFuseChannel Clone() => new FuseDeviceChannel(FuseDevice.Clone((_origin ?? this)._fd), _origin ?? this);

    public int OpenBacking(SafeHandle backing) => FuseDevice.OpenBacking((_origin ?? this)._fd, backing);

    public Errno CloseBacking(int backingId) => FuseDevice.CloseBacking((_origin ?? this)._fd, backingId);

    public void Dispose() => _fd.Dispose();
}
