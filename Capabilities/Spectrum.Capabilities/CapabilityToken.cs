using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Spectrum.Capabilities;

/// <summary>
/// A decoded <c>spg1_</c> capability token: a grant binding, a list of caveats and the last tag of
/// a macaroon-style HMAC chain. A token is an immutable value; narrowing it
/// (<see cref="Attenuate"/>) or sealing it returns a new token and needs no key, so a VM can hand a
/// narrower token to another VM offline. Whether a token is <em>valid</em> is only decided by
/// <see cref="TokenVerifier"/>, which holds the keys.
/// </summary>
/// <remarks>
/// Binary form (big-endian): u8 version = 1, u32 key epoch, u8 flags (bit 0 = sealed), 8-byte grant
/// id, u16 caveat count, per caveat (u8 type, u16 length, value), 32-byte tag. Text form:
/// <c>spg1_</c> + unpadded base64url. The token keeps its exact binary form, so the MAC is checked
/// over the bytes that arrived and <see cref="Encode"/> gives back exactly the decoded text.
/// The tag is a bearer secret: it never appears in <see cref="ToString"/>, <see cref="Inspect"/>
/// or any message.
/// </remarks>
public sealed class CapabilityToken
{
    private readonly byte[] _binary;
    private IReadOnlyList<Caveat>? _caveats;

    private CapabilityToken(byte[] binary, uint epoch, bool isSealed, GrantId grantId, int caveatCount)
    {
        _binary = binary;
        Epoch = epoch;
        IsSealed = isSealed;
        GrantId = grantId;
        CaveatCount = caveatCount;
    }

    /// <summary>The format version (always 1 for a decoded token).</summary>
    public byte Version => TokenLimits.Version;

    /// <summary>The key epoch the token was minted under.</summary>
    public uint Epoch { get; }

    /// <summary>The grant the token is bound to (never empty).</summary>
    public GrantId GrantId { get; }

    /// <summary>A sealed token takes no more caveats.</summary>
    public bool IsSealed { get; }

    /// <summary>Number of caveats.</summary>
    public int CaveatCount { get; }

    /// <summary>The caveats in chain order (copied out of the token on first use).</summary>
    public IReadOnlyList<Caveat> Caveats => _caveats ??= ReadCaveats();

    /// <summary>
    /// The revocation id of the token's last chain step, computable from the serialized tag alone.
    /// Revoking it kills this token and everything later derived from it.
    /// </summary>
    public RevocationId LastRevocationId
    {
        get
        {
            Span<byte> id = stackalloc byte[RevocationId.Length];
            MacaroonChain.RevocationId(Tag, id);
            return RevocationId.FromBytes(id);
        }
    }

    /// <summary>The exact binary form.</summary>
    internal ReadOnlySpan<byte> Binary => _binary;

    /// <summary>The serialized (last) tag.</summary>
    internal ReadOnlySpan<byte> Tag => _binary.AsSpan(_binary.Length - TokenLimits.TagLength);

    /// <summary>
    /// Decodes a token, strictly: the text limit is checked before base64 decoding, the caveat
    /// count before any caveat, and every caveat is validated (unknown type or malformed value
    /// fails). On failure <paramref name="error"/> is one line naming the cause; it never quotes
    /// the token.
    /// </summary>
    public static bool TryDecode(string? text, [NotNullWhen(true)] out CapabilityToken? token, out string error)
    {
        token = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "token is empty";
            return false;
        }

        if (text.Length > TokenLimits.MaxTokenTextLength)
        {
            error = $"token is longer than {TokenLimits.MaxTokenTextLength} characters; it is not a spg1_ token or it was corrupted";
            return false;
        }

        if (!text.StartsWith(TokenLimits.Prefix, StringComparison.Ordinal))
        {
            error = "token is not a spg1_ token";
            return false;
        }

        if (!Base64UrlStrict.TryDecode(text.AsSpan(TokenLimits.Prefix.Length), TokenLimits.Prefix.Length, out var binary, out error))
        {
            return false;
        }

        return TryParse(binary, out token, out error);
    }

    /// <summary>Decodes or throws <see cref="FormatException"/> with the one-line cause.</summary>
    public static CapabilityToken Decode(string? text) =>
        TryDecode(text, out var token, out var error) ? token : throw new FormatException(error);

    /// <summary>The <c>spg1_</c> text form.</summary>
    public string Encode() => Base64UrlStrict.Encode(TokenLimits.Prefix, _binary);

    /// <summary>
    /// Narrows the token: appends caveats and extends the chain from the current tag. Needs no key,
    /// so anyone holding the token can do it, and the result can never allow more than this token.
    /// </summary>
    /// <exception cref="InvalidOperationException">The token is sealed.</exception>
    /// <exception cref="ArgumentException">A caveat is invalid, or the result would exceed the limits.</exception>
    public CapabilityToken Attenuate(params Caveat[] more)
    {
        ArgumentNullException.ThrowIfNull(more);
        if (IsSealed)
        {
            throw new InvalidOperationException("this token is sealed and cannot take more caveats; attenuate it before sealing");
        }

        var caveatBytes = _binary.AsSpan(TokenLimits.HeaderLength, _binary.Length - TokenLimits.HeaderLength - TokenLimits.TagLength);
        return Build(Epoch, GrantId, caveatBytes, CaveatCount, Tag, more);
    }

    /// <summary>
    /// Seals the token: one more chain step over "spg1-seal" and the sealed flag. A sealed token
    /// refuses <see cref="Attenuate"/>; clearing the flag does not help, because the unsealed tag
    /// cannot be recovered from the sealed one.
    /// </summary>
    public CapabilityToken Seal()
    {
        if (IsSealed)
        {
            throw new InvalidOperationException("this token is already sealed");
        }

        var binary = (byte[])_binary.Clone();
        binary[TokenLimits.FlagsOffset] |= TokenLimits.SealedFlag;
        MacaroonChain.Seal(binary.AsSpan(binary.Length - TokenLimits.TagLength));
        return new CapabilityToken(binary, Epoch, isSealed: true, GrantId, CaveatCount);
    }

    /// <summary>
    /// A plain multi-line description for <c>spectrum-grant token inspect</c>: version, epoch, grant,
    /// sealed, each caveat and the last revocation id. Never the tag.
    /// </summary>
    public string Inspect()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"format       spg1 (version {Version})\n");
        text.Append(CultureInfo.InvariantCulture, $"grant        {GrantId}\n");
        text.Append(CultureInfo.InvariantCulture, $"key epoch    {Epoch}\n");
        text.Append(CultureInfo.InvariantCulture, $"sealed       {(IsSealed ? "yes" : "no")}\n");
        text.Append(CultureInfo.InvariantCulture, $"caveats      {CaveatCount}\n");
        var i = 1;
        foreach (var caveat in Caveats)
        {
            text.Append(CultureInfo.InvariantCulture, $"  {i++,2}. {caveat}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"revocation   {LastRevocationId}\n");
        return text.ToString();
    }

    /// <summary>Grant, epoch and caveats on one line; never the tag.</summary>
    public override string ToString() =>
        $"spg1 token {GrantId} epoch {Epoch.ToString(CultureInfo.InvariantCulture)}{(IsSealed ? " sealed" : "")} [{string.Join(", ", Caveats)}]";

    /// <summary>
    /// Builds a token: header, existing caveat bytes, new caveats, and the chain extended from
    /// <paramref name="tag"/> over the new caveats. Used by minting (tag = tag0) and attenuation.
    /// </summary>
    internal static CapabilityToken Build(uint epoch, GrantId grantId, ReadOnlySpan<byte> caveatBytes, int caveatCount, ReadOnlySpan<byte> tag, Caveat[] more)
    {
        if (grantId.IsEmpty)
        {
            throw new ArgumentException("a token must be bound to a grant; the grant id is empty", nameof(grantId));
        }

        if (more.Length == 0)
        {
            throw new ArgumentException("give at least one caveat", nameof(more));
        }

        if (caveatCount + more.Length > TokenLimits.MaxCaveats)
        {
            throw new ArgumentException($"a token carries at most {TokenLimits.MaxCaveats} caveats", nameof(more));
        }

        var length = TokenLimits.HeaderLength + caveatBytes.Length + TokenLimits.TagLength;
        foreach (var caveat in more)
        {
            if (!caveat.IsWellFormed)
            {
                throw new ArgumentException($"caveat {caveat.Name} is not valid; build caveats with the Caveat factories", nameof(more));
            }

            length += caveat.WireLength;
        }

        if (TokenLimits.Prefix.Length + Base64UrlStrict.EncodedLength(length) > TokenLimits.MaxTokenTextLength)
        {
            throw new ArgumentException($"the token would be longer than {TokenLimits.MaxTokenTextLength} characters", nameof(more));
        }

        var binary = new byte[length];
        var span = binary.AsSpan();
        span[0] = TokenLimits.Version;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], epoch);
        span[TokenLimits.FlagsOffset] = 0;
        grantId.WriteBytes(span.Slice(TokenLimits.FlagsOffset + 1, TokenLimits.GrantIdLength));
        BinaryPrimitives.WriteUInt16BigEndian(span[TokenLimits.CaveatCountOffset..], (ushort)(caveatCount + more.Length));
        caveatBytes.CopyTo(span[TokenLimits.HeaderLength..]);

        var newTag = span[^TokenLimits.TagLength..];
        tag.CopyTo(newTag);
        var position = TokenLimits.HeaderLength + caveatBytes.Length;
        foreach (var caveat in more)
        {
            var wire = span.Slice(position, caveat.WireLength);
            caveat.WriteWire(wire);
            MacaroonChain.Step(newTag, wire);
            position += wire.Length;
        }

        // Re-read what was written with the decoder, so that nothing is minted that would not decode.
        return TryParse(binary, out var token, out var error)
            ? token
            : throw new InvalidOperationException("internal error: a built token does not decode: " + error);
    }

    private static bool TryParse(byte[] binary, [NotNullWhen(true)] out CapabilityToken? token, out string error)
    {
        token = null;
        error = "";
        var reader = new TokenReader(binary);
        if (!reader.TryReadByte(out var version))
        {
            error = "token is truncated";
            return false;
        }

        if (version != TokenLimits.Version)
        {
            error = $"token has unsupported format version {version}; it was made by a newer broker or it is not a token";
            return false;
        }

        if (!reader.TryReadUInt32(out var epoch)
            || !reader.TryReadByte(out var flags)
            || !reader.TryReadBytes(TokenLimits.GrantIdLength, out var grantBytes)
            || !reader.TryReadUInt16(out var count))
        {
            error = "token is truncated";
            return false;
        }

        if ((flags & ~TokenLimits.SealedFlag) != 0)
        {
            error = $"token has unknown flags 0x{flags:x2}; it was made by a newer broker or tampered with";
            return false;
        }

        var grantId = GrantId.FromBytes(grantBytes);
        if (grantId.IsEmpty)
        {
            error = "token is not bound to a grant (its grant id is zero)";
            return false;
        }

        if (count > TokenLimits.MaxCaveats)
        {
            error = $"token has {count} caveats; at most {TokenLimits.MaxCaveats} are allowed";
            return false;
        }

        for (var i = 1; i <= count; i++)
        {
            if (!reader.TryReadByte(out var type) || !reader.TryReadUInt16(out var length))
            {
                error = "token is truncated";
                return false;
            }

            if (!CaveatRules.IsKnown(type))
            {
                error = $"token has unknown caveat type {type}; it was made by a newer broker or tampered with";
                return false;
            }

            if (length > TokenLimits.MaxCaveatValueLength)
            {
                error = $"token caveat {i} ({CaveatRules.Name((CaveatType)type)}) is longer than {TokenLimits.MaxCaveatValueLength} bytes";
                return false;
            }

            if (!reader.TryReadBytes(length, out var value))
            {
                error = "token is truncated";
                return false;
            }

            if (!CaveatRules.TryValidate(type, value, out var problem))
            {
                error = $"token caveat {i}: {problem}";
                return false;
            }
        }

        if (reader.Remaining < TokenLimits.TagLength)
        {
            error = $"token is truncated (its tag has {reader.Remaining} of {TokenLimits.TagLength} bytes)";
            return false;
        }

        if (reader.Remaining > TokenLimits.TagLength)
        {
            error = $"token has {reader.Remaining - TokenLimits.TagLength} unexpected bytes after its tag";
            return false;
        }

        token = new CapabilityToken(binary, epoch, (flags & TokenLimits.SealedFlag) != 0, grantId, count);
        return true;
    }

    private ReadOnlyCollection<Caveat> ReadCaveats()
    {
        var caveats = new Caveat[CaveatCount];
        var reader = new TokenReader(_binary.AsSpan(TokenLimits.HeaderLength));
        for (var i = 0; i < caveats.Length; i++)
        {
            // The binary was validated when the token was made; these reads cannot fail.
            reader.TryReadByte(out var type);
            reader.TryReadUInt16(out var length);
            reader.TryReadBytes(length, out var value);
            caveats[i] = Caveat.FromTrustedWire(type, value);
        }

        return Array.AsReadOnly(caveats);
    }
}
