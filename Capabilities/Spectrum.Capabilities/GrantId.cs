using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace Spectrum.Capabilities;

/// <summary>
/// The grant a token is bound to: 8 random bytes, written <c>g_</c> + 16 lowercase hex digits.
/// Grant ids appear in logs and the audit log (tokens never do), so they are how an operator
/// follows a token around. The all-zero id means "bound to nothing" and is never valid in a token.
/// </summary>
public readonly record struct GrantId
{
    private const string TextPrefix = "g_";
    private readonly ulong _value;

    private GrantId(ulong value) => _value = value;

    /// <summary>The all-zero id: no grant binding.</summary>
    public static GrantId Empty => default;

    /// <summary>True for the all-zero id.</summary>
    public bool IsEmpty => _value == 0;

    /// <summary>A fresh random, non-empty id.</summary>
    public static GrantId New()
    {
        Span<byte> bytes = stackalloc byte[TokenLimits.GrantIdLength];
        ulong value;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            value = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        }
        while (value == 0);

        return new GrantId(value);
    }

    /// <summary>Reads the 8 wire bytes (big-endian).</summary>
    public static GrantId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != TokenLimits.GrantIdLength)
        {
            throw new ArgumentException($"a grant id is {TokenLimits.GrantIdLength} bytes, not {bytes.Length}", nameof(bytes));
        }

        return new GrantId(BinaryPrimitives.ReadUInt64BigEndian(bytes));
    }

    /// <summary>Writes the 8 wire bytes (big-endian).</summary>
    public void WriteBytes(Span<byte> destination) => BinaryPrimitives.WriteUInt64BigEndian(destination, _value);

    /// <summary>
    /// Parses exactly <c>g_</c> followed by 16 lowercase hex digits. The empty id is refused, so a
    /// parsed id is always a usable binding.
    /// </summary>
    public static bool TryParse(string? text, out GrantId id)
    {
        id = default;
        if (text is null || text.Length != TextPrefix.Length + 16 || !text.StartsWith(TextPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var hex = text.AsSpan(TextPrefix.Length);
        foreach (var c in hex)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        var value = ulong.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        if (value == 0)
        {
            return false;
        }

        id = new GrantId(value);
        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/>.</summary>
    public static GrantId Parse(string? text) =>
        TryParse(text, out var id)
            ? id
            : throw new FormatException("bad grant id; it is g_ followed by 16 lowercase hex digits, such as g_0123456789abcdef");

    /// <inheritdoc />
    public override string ToString() => TextPrefix + _value.ToString("x16", CultureInfo.InvariantCulture);
}
