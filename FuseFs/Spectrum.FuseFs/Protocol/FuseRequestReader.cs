using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Spectrum.FuseFs;

/// <summary>
/// Reads a request body front to back. Every read checks what remains; names are checked for
/// their NUL, length (<see cref="FuseLimits"/>) and a slash. Nothing here trusts the sender.
/// </summary>
internal ref struct FuseRequestReader
{
    private ReadOnlySpan<byte> _rest;

    public FuseRequestReader(ReadOnlySpan<byte> body) => _rest = body;

    public readonly int Remaining => _rest.Length;

    /// <summary>Reads a fixed-size struct (unaligned).</summary>
    public bool TryRead<T>(out T value)
        where T : unmanaged
    {
        var size = Unsafe.SizeOf<T>();
        if (_rest.Length < size)
        {
            value = default;
            return false;
        }

        value = MemoryMarshal.Read<T>(_rest);
        _rest = _rest[size..];
        return true;
    }

    /// <summary>Reads <paramref name="count"/> raw bytes.</summary>
    public bool TryReadBytes(int count, out ReadOnlySpan<byte> bytes)
    {
        if (count < 0 || _rest.Length < count)
        {
            bytes = default;
            return false;
        }

        bytes = _rest[..count];
        _rest = _rest[count..];
        return true;
    }

    /// <summary>
    /// Reads a NUL-terminated string of 1..<paramref name="maxLength"/> bytes (without the NUL).
    /// Fails on a missing NUL, an empty or over-long string, or (for path components) a '/'.
    /// </summary>
    public bool TryReadString(int maxLength, bool component, out ReadOnlySpan<byte> value)
    {
        var end = _rest.IndexOf((byte)0);
        if (end <= 0 || end > maxLength || (component && _rest[..end].Contains((byte)'/')))
        {
            value = default;
            return false;
        }

        value = _rest[..end];
        _rest = _rest[(end + 1)..];
        return true;
    }

    /// <summary>A path component (NAME_MAX, no slash).</summary>
    public bool TryReadName(out ReadOnlySpan<byte> name) => TryReadString(FuseLimits.MaxName, component: true, out name);
}
