using System.Runtime.InteropServices;
using NSec.Cryptography;

namespace Spectrum.Capabilities;

/// <summary>
/// The macaroon MAC chain (libmacaroons construction): the secret is turned into a key with
/// <c>K = HMAC-SHA256("macaroons-key-generator", secret)</c>, then <c>tag0 = HMAC(K, identifier)</c>
/// and <c>tag_i = HMAC(tag_{i-1}, caveat_i)</c>. Only the last tag is ever serialized, so anyone
/// can extend the chain (narrow a token) and no one can shorten it (widen a token).
/// </summary>
/// <remarks>
/// The chain steps key HMAC with the previous tag, a fresh 32-byte key per step. Importing each
/// as an NSec <c>Key</c> would allocate secure memory per step on the verify path, so the steps
/// run HMAC (RFC 2104) directly on NSec's incremental SHA-256 with stack buffers: keys are at most
/// one 64-byte block, so the key is zero-padded and never pre-hashed. The epoch root keys do go
/// through NSec <c>Key</c> objects, imported once (see <see cref="TokenKeyRing"/>).
/// </remarks>
internal static class MacaroonChain
{
    /// <summary>Tag (and HMAC) length.</summary>
    public const int TagLength = 32;

    private const int BlockLength = 64;
    private const byte InnerPad = 0x36;
    private const byte OuterPad = 0x5c;

    private static readonly Sha256 Sha256 = NSec.Cryptography.HashAlgorithm.Sha256;

    /// <summary>The libmacaroons key-generator HMAC key (23 bytes of ASCII).</summary>
    public static ReadOnlySpan<byte> KeyGeneratorKey => "macaroons-key-generator"u8;

    /// <summary>The data of the seal step.</summary>
    public static ReadOnlySpan<byte> SealData => "spg1-seal"u8;

    private static ReadOnlySpan<byte> RevocationPrefix => "spg1-rev"u8;

    /// <summary>
    /// HMAC-SHA-256 for keys of at most one block (64 bytes). <paramref name="mac"/> may be the
    /// same memory as <paramref name="key"/> (the key is copied into the pad before anything is
    /// written), so a chain step can run in place.
    /// </summary>
    public static void Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> mac)
    {
        if (key.Length > BlockLength)
        {
            throw new ArgumentException("this HMAC takes keys of at most 64 bytes", nameof(key));
        }

        if (mac.Length != TagLength)
        {
            throw new ArgumentException($"the HMAC output is {TagLength} bytes", nameof(mac));
        }

        Span<byte> pad = stackalloc byte[BlockLength];
        Span<byte> inner = stackalloc byte[TagLength];
        pad.Clear();
        key.CopyTo(pad);
        Xor(pad, InnerPad);
        IncrementalHash.Initialize(Sha256, out var hash);
        IncrementalHash.Update(ref hash, pad);
        IncrementalHash.Update(ref hash, data);
        IncrementalHash.Finalize(ref hash, inner);

        Xor(pad, InnerPad ^ OuterPad);
        IncrementalHash.Initialize(Sha256, out hash);
        IncrementalHash.Update(ref hash, pad);
        IncrementalHash.Update(ref hash, inner);
        IncrementalHash.Finalize(ref hash, mac);

        System.Security.Cryptography.CryptographicOperations.ZeroMemory(pad);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(inner);
    }

    /// <summary>The libmacaroons key derivation: HMAC(key = "macaroons-key-generator", data = secret).</summary>
    public static void DeriveKey(ReadOnlySpan<byte> secret, Span<byte> key) => Hmac(KeyGeneratorKey, secret, key);

    /// <summary>One chain step, in place: tag = HMAC(tag, caveat).</summary>
    public static void Step(Span<byte> tag, ReadOnlySpan<byte> caveat) => Hmac(tag, caveat, tag);

    /// <summary>The seal step, in place: tag = HMAC(tag, "spg1-seal").</summary>
    public static void Seal(Span<byte> tag) => Hmac(tag, SealData, tag);

    /// <summary>The revocation id of a step: SHA-256("spg1-rev" || tag).</summary>
    public static void RevocationId(ReadOnlySpan<byte> tag, Span<byte> id)
    {
        IncrementalHash.Initialize(Sha256, out var hash);
        IncrementalHash.Update(ref hash, RevocationPrefix);
        IncrementalHash.Update(ref hash, tag);
        IncrementalHash.Finalize(ref hash, id);
    }

    /// <summary>
    /// The whole libmacaroons signature: chain over (derive(secret), identifier, caveats). Used by
    /// the known-answer tests against the published libmacaroons/pymacaroons signatures.
    /// </summary>
    public static byte[] Signature(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> identifier, IEnumerable<byte[]> caveats)
    {
        ArgumentNullException.ThrowIfNull(caveats);
        Span<byte> key = stackalloc byte[TagLength];
        DeriveKey(secret, key);
        var tag = new byte[TagLength];
        Hmac(key, identifier, tag);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        foreach (var caveat in caveats)
        {
            Step(tag, caveat);
        }

        return tag;
    }

    private static void Xor(Span<byte> block, byte value)
    {
        var mask = value * 0x0101010101010101UL;
        foreach (ref var word in MemoryMarshal.Cast<byte, ulong>(block))
        {
            word ^= mask;
        }
    }
}
