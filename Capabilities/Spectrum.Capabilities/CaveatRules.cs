using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Spectrum.Capabilities;

/// <summary>
/// The validity rules of caveat values, shared by the decoder and the factories so that exactly
/// the same bytes are accepted on both sides. Everything not described here is refused.
/// </summary>
internal static class CaveatRules
{
    public const string HolderRule =
        "a holder is a VM name: 1 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit";

    public const string LabelRule =
        "a label is 1 to 256 bytes of UTF-8 text without control characters";

    // DateTimeOffset's range in unix seconds (0001-01-01 .. 9999-12-31T23:59:59Z).
    private const long MinUnixSeconds = -62_135_596_800;
    private const long MaxUnixSeconds = 253_402_300_799;

    /// <summary>The text name of a type; unknown types print as their number.</summary>
    public static string Name(CaveatType type) => type switch
    {
        CaveatType.Path => "path",
        CaveatType.Rights => "rights",
        CaveatType.NotAfter => "not_after",
        CaveatType.NotBefore => "not_before",
        CaveatType.Holder => "holder",
        CaveatType.Once => "once",
        CaveatType.NoDelegate => "no_delegate",
        CaveatType.Label => "label",
        _ => "type " + ((byte)type).ToString(CultureInfo.InvariantCulture),
    };

    public static bool IsKnown(byte type) => type is >= (byte)CaveatType.Path and <= (byte)CaveatType.Label;

    /// <summary>
    /// Validates a caveat value. The error says what is wrong without quoting the value (a token's
    /// content stays out of messages).
    /// </summary>
    public static bool TryValidate(byte type, ReadOnlySpan<byte> value, out string error)
    {
        error = "";
        if (!IsKnown(type))
        {
            error = $"unknown caveat type {type}; it was made by a newer broker or tampered with";
            return false;
        }

        if (value.Length > TokenLimits.MaxCaveatValueLength)
        {
            error = $"{Name((CaveatType)type)} caveat is longer than {TokenLimits.MaxCaveatValueLength} bytes";
            return false;
        }

        var problem = (CaveatType)type switch
        {
            CaveatType.Path => IsTreePath(value) ? null : "not a canonical tree path (relative, no empty, . or .. component, no NUL, valid UTF-8)",
            CaveatType.Rights => ValidateRights(value),
            CaveatType.NotAfter or CaveatType.NotBefore => ValidateTime(value),
            CaveatType.Holder => IsHolder(value) ? null : HolderRule,
            CaveatType.Once => value.Length == TokenLimits.OnceNonceLength ? null : $"a once nonce is {TokenLimits.OnceNonceLength} bytes",
            CaveatType.NoDelegate => value.IsEmpty ? null : "no_delegate has no value",
            CaveatType.Label => IsLabel(value) ? null : LabelRule,
            _ => "unknown",
        };

        if (problem is not null)
        {
            error = $"{Name((CaveatType)type)} caveat is malformed: {problem}";
            return false;
        }

        return true;
    }

    /// <summary>
    /// The byte-level equivalent of <see cref="TreePath.TryParse"/> on the decoded string: for
    /// valid UTF-8 the ASCII bytes '/', '.' and NUL never occur inside a multi-byte sequence, so
    /// checking components on bytes gives the same answer without allocating a string.
    /// </summary>
    public static bool IsTreePath(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || !Utf8.IsValid(value))
        {
            return false;
        }

        if (value is [(byte)'.'])
        {
            return true;
        }

        if (value.Length >= TreePath.PathMax || value.Contains((byte)0))
        {
            return false;
        }

        var rest = value;
        while (true)
        {
            var slash = rest.IndexOf((byte)'/');
            var component = slash < 0 ? rest : rest[..slash];
            if (component.IsEmpty || component is [(byte)'.'] || component is [(byte)'.', (byte)'.'] || component.Length > TreePath.NameMax)
            {
                return false;
            }

            if (slash < 0)
            {
                return true;
            }

            rest = rest[(slash + 1)..];
        }
    }

    public static bool IsHolder(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value.Length > TokenLimits.MaxHolderLength || !IsLowerAlnum(value[0]))
        {
            return false;
        }

        foreach (var b in value)
        {
            if (!IsLowerAlnum(b) && b is not ((byte)'.' or (byte)'_' or (byte)'-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Labels are shown to people (inspect, audit), so besides C0/C1 controls the line separators
    /// and the bidirectional overrides that could make a label display as something else are refused.
    /// </summary>
    public static bool IsLabel(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty || value.Length > TokenLimits.MaxLabelLength || !Utf8.IsValid(value))
        {
            return false;
        }

        while (!value.IsEmpty)
        {
            Rune.DecodeFromUtf8(value, out var rune, out var consumed);
            if (Rune.IsControl(rune)
                || rune.Value is 0x2028 or 0x2029 or 0x061C or 0x200E or 0x200F
                || rune.Value is >= 0x202A and <= 0x202E
                || rune.Value is >= 0x2066 and <= 0x2069)
            {
                return false;
            }

            value = value[consumed..];
        }

        return true;
    }

    private static string? ValidateRights(ReadOnlySpan<byte> value)
    {
        if (value.Length != 2)
        {
            return "rights are 2 bytes";
        }

        var bits = BinaryPrimitives.ReadUInt16BigEndian(value);
        if (bits == 0)
        {
            return "rights are empty";
        }

        return (bits & ~(ushort)Rights.All) != 0 ? "rights have unknown bits" : null;
    }

    private static string? ValidateTime(ReadOnlySpan<byte> value)
    {
        if (value.Length != 8)
        {
            return "a time is 8 bytes";
        }

        var seconds = BinaryPrimitives.ReadInt64BigEndian(value);
        return seconds is < MinUnixSeconds or > MaxUnixSeconds ? "time is out of range" : null;
    }

    private static bool IsLowerAlnum(byte b) => b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9');
}
