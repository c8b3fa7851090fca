namespace Spectrum.Capabilities.Tests;

/// <summary>Fixed keys, grant and clock shared by the token tests.</summary>
internal static class TokenFixture
{
    public const uint Epoch = 7;

    public static readonly byte[] RootKey = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    public static readonly GrantId Grant = GrantId.Parse("g_0123456789abcdef");

    public static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public static readonly RevocationSet NothingRevoked = new();

    public static TokenKeyRing Ring() => TokenKeyRing.Create(Epoch, RootKey);

    public static CapabilityToken Mint(params Caveat[] caveats)
    {
        using var ring = Ring();
        return new TokenIssuer(ring).Mint(Grant, caveats);
    }

    /// <summary>A typical VM token: a directory, read-only, bound to vm-a, valid for a day.</summary>
    public static CapabilityToken Typical() => Mint(
        Caveat.Path(TreePath.Parse("Documents")),
        Caveat.OfRights(Rights.ReadOnly),
        Caveat.NotAfter(Now.AddDays(1)),
        Caveat.Holder("vm-a"));

    public static VerifyContext Request(string path = "Documents/report.odt", Rights rights = Rights.Read, string? holder = "vm-a", bool delegating = false, DateTimeOffset? now = null) =>
        new(TreePath.Parse(path), rights, now ?? Now, holder, delegating);

    public static TokenVerdict Verify(CapabilityToken token, in VerifyContext context, IRevocationLookup? revoked = null)
    {
        using var ring = Ring();
        return new TokenVerifier(ring).Verify(token, context, revoked ?? NothingRevoked);
    }

    public static TokenVerdict Verify(string text, in VerifyContext context, IRevocationLookup? revoked = null)
    {
        using var ring = Ring();
        return new TokenVerifier(ring).Verify(text, context, revoked ?? NothingRevoked);
    }

    public static byte[] ToBinary(string text)
    {
        var b64 = text["spg1_".Length..].Replace('-', '+').Replace('_', '/');
        b64 += new string('=', (4 - (b64.Length % 4)) % 4);
        return Convert.FromBase64String(b64);
    }

    public static string FromBinary(byte[] binary) =>
        "spg1_" + Convert.ToBase64String(binary).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Builds a binary token by hand: header, raw caveats, then a tag.</summary>
    public static byte[] Craft(uint epoch, byte flags, GrantId grant, IReadOnlyList<(byte Type, byte[] Value)> caveats, byte[]? tag = null, int? count = null)
    {
        var bytes = new List<byte> { 1 };
        bytes.AddRange(BigEndian(epoch, 4));
        bytes.Add(flags);
        var g = new byte[8];
        grant.WriteBytes(g);
        bytes.AddRange(g);
        bytes.AddRange(BigEndian((ulong)(count ?? caveats.Count), 2));
        foreach (var (type, value) in caveats)
        {
            bytes.Add(type);
            bytes.AddRange(BigEndian((ulong)value.Length, 2));
            bytes.AddRange(value);
        }

        bytes.AddRange(tag ?? new byte[32]);
        return bytes.ToArray();
    }

    /// <summary>
    /// Crafts a token whose tag is correctly computed with the fixture key, so that a refusal can
    /// only come from the caveat rules, not from the MAC.
    /// </summary>
    public static string CraftSigned(IReadOnlyList<(byte Type, byte[] Value)> caveats, byte flags = 0, GrantId? grant = null)
    {
        var g = grant ?? Grant;
        var unsigned = Craft(Epoch, flags, g, caveats);
        var secret = RootKey;
        var identifier = unsigned.AsSpan(0, 14).ToArray();
        identifier[5] &= 0xfe;
        var wires = new List<byte[]>();
        var position = 16;
        foreach (var (_, value) in caveats)
        {
            wires.Add(unsigned.AsSpan(position, 3 + value.Length).ToArray());
            position += 3 + value.Length;
        }

        var tag = MacaroonChain.Signature(secret, identifier, wires);
        if ((flags & 1) != 0)
        {
            MacaroonChain.Seal(tag);
        }

        tag.CopyTo(unsigned, unsigned.Length - 32);
        return FromBinary(unsigned);
    }

    private static byte[] BigEndian(ulong value, int length)
    {
        var bytes = new byte[length];
        for (var i = length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)value;
            value >>= 8;
        }

        return bytes;
    }
}
