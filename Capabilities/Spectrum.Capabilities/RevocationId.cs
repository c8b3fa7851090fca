using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Spectrum.Capabilities;

/// <summary>
/// The revocation id of one step of a token's MAC chain: SHA-256("spg1-rev" || tag of that step),
/// written as 64 lowercase hex digits. It is a one-way function of the tag, so it can be logged,
/// stored and shown without giving away the token; revoking it kills the token that ends at that
/// step and every token derived from it (they all share the step), and nothing else.
/// </summary>
public readonly record struct RevocationId
{
    /// <summary>Length in bytes.</summary>
    public const int Length = 32;

    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;

    private RevocationId(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a;
        _b = b;
        _c = c;
        _d = d;
    }

    /// <summary>Reads the 32 bytes.</summary>
    public static RevocationId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            throw new ArgumentException($"a revocation id is {Length} bytes, not {bytes.Length}", nameof(bytes));
        }

        return new RevocationId(
            BinaryPrimitives.ReadUInt64BigEndian(bytes),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));
    }

    /// <summary>Writes the 32 bytes.</summary>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Length)
        {
            throw new ArgumentException($"the destination must hold {Length} bytes", nameof(destination));
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    /// <summary>Parses 64 lowercase hex digits.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out RevocationId? id)
    {
        id = null;
        if (!Hex.TryDecodeLower(text, Length, out var bytes))
        {
            return false;
        }

        id = FromBytes(bytes);
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/>.</summary>
    public static RevocationId Parse(string? text) =>
        TryParse(text, out var id) ? id.Value : throw new FormatException("bad revocation id; it is 64 lowercase hex digits");

    /// <inheritdoc />
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}

/// <summary>
/// A <c>once</c> caveat's 16-byte nonce, written as 32 lowercase hex digits. The verifier returns
/// the nonces it found; the broker consumes each in its database, so a second redemption fails.
/// </summary>
public readonly record struct OnceNonce
{
    /// <summary>Length in bytes.</summary>
    public const int Length = TokenLimits.OnceNonceLength;

    private readonly ulong _high;
    private readonly ulong _low;

    private OnceNonce(ulong high, ulong low)
    {
        _high = high;
        _low = low;
    }

    /// <summary>A fresh random nonce.</summary>
    public static OnceNonce New()
    {
        Span<byte> bytes = stackalloc byte[Length];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return FromBytes(bytes);
    }

    /// <summary>Reads the 16 bytes.</summary>
    public static OnceNonce FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            throw new ArgumentException($"a once nonce is {Length} bytes, not {bytes.Length}", nameof(bytes));
        }

        return new OnceNonce(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
    }

    /// <summary>Writes the 16 bytes.</summary>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Length)
        {
            throw new ArgumentException($"the destination must hold {Length} bytes", nameof(destination));
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
    }

    /// <summary>Parses 32 lowercase hex digits.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out OnceNonce? nonce)
    {
        nonce = null;
        if (!Hex.TryDecodeLower(text, Length, out var bytes))
        {
            return false;
        }

        nonce = FromBytes(bytes);
        return true;
    }

    /// <inheritdoc />
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}

/// <summary>Strict lowercase hex, so each id has exactly one spelling.</summary>
internal static class Hex
{
    public static bool TryDecodeLower(string? text, int length, [NotNullWhen(true)] out byte[]? bytes)
    {
        bytes = null;
        if (text is null || text.Length != length * 2)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        bytes = Convert.FromHexString(text);
        return true;
    }
}
