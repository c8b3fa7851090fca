namespace Spectrum.Capabilities;

/// <summary>
/// Every size limit of the <c>spg1_</c> token format, in one place, so that the decoder, the
/// minting side and the tests agree. The limits bound the work that an untrusted token can cause
/// before it is rejected: the text length is checked before any base64 decoding, the caveat count
/// before any caveat is read.
/// </summary>
public static class TokenLimits
{
    /// <summary>The text prefix of every token of format version 1.</summary>
    public const string Prefix = "spg1_";

    /// <summary>Longest accepted token text, prefix included (8 KiB).</summary>
    public const int MaxTokenTextLength = 8 * 1024;

    /// <summary>Most caveats one token may carry.</summary>
    public const int MaxCaveats = 64;

    /// <summary>Longest caveat value, in bytes.</summary>
    public const int MaxCaveatValueLength = 1024;

    /// <summary>Length of the serialized tag (HMAC-SHA-256).</summary>
    public const int TagLength = 32;

    /// <summary>Length of a grant id on the wire.</summary>
    public const int GrantIdLength = 8;

    /// <summary>Length of a <c>once</c> nonce.</summary>
    public const int OnceNonceLength = 16;

    /// <summary>Longest <c>holder</c> value (a VM name), in bytes.</summary>
    public const int MaxHolderLength = 64;

    /// <summary>Longest <c>label</c> value, in bytes of UTF-8.</summary>
    public const int MaxLabelLength = 256;

    /// <summary>Length of an epoch root key.</summary>
    public const int RootKeyLength = 32;

    /// <summary>The MAC'd identifier: version (1), epoch (4), flags (1), grant id (8).</summary>
    internal const int IdentifierLength = 1 + 4 + 1 + GrantIdLength;

    /// <summary>Identifier plus the u16 caveat count.</summary>
    internal const int HeaderLength = IdentifierLength + 2;

    /// <summary>A caveat's type byte plus its u16 length.</summary>
    internal const int CaveatHeaderLength = 3;

    /// <summary>Offset of the flags byte in the binary form.</summary>
    internal const int FlagsOffset = 5;

    /// <summary>Offset of the caveat count in the binary form.</summary>
    internal const int CaveatCountOffset = IdentifierLength;

    /// <summary>The only format version this code reads and writes.</summary>
    internal const byte Version = 1;

    /// <summary>Flags bit 0: the token is sealed.</summary>
    internal const byte SealedFlag = 1;

    /// <summary>Chain steps a token can have: tag0, one per caveat, and the seal.</summary>
    internal const int MaxChainSteps = MaxCaveats + 2;
}
