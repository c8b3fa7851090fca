using System.Buffers.Binary;

namespace Spectrum.Capabilities;

/// <summary>
/// Mints tokens under the ring's current epoch. Only the broker holds an issuer; anyone can
/// narrow a minted token afterwards (<see cref="CapabilityToken.Attenuate"/>).
/// </summary>
public sealed class TokenIssuer(TokenKeyRing keys)
{
    private readonly TokenKeyRing _keys = keys ?? throw new ArgumentNullException(nameof(keys));

    /// <summary>
    /// Mints a token bound to <paramref name="grant"/> with at least one caveat. A token with no
    /// caveats would carry the whole grant with nothing to say what it is for, so it is refused here
    /// and rejected by the verifier.
    /// </summary>
    public CapabilityToken Mint(GrantId grant, params Caveat[] caveats)
    {
        ArgumentNullException.ThrowIfNull(caveats);
        if (grant.IsEmpty)
        {
            throw new ArgumentException("a token must be bound to a grant; the grant id is empty", nameof(grant));
        }

        if (caveats.Length == 0)
        {
            throw new ArgumentException("a token needs at least one caveat (a path, rights or an expiry)", nameof(caveats));
        }

        var epoch = _keys.CurrentEpoch;
        Span<byte> identifier = stackalloc byte[TokenLimits.IdentifierLength];
        identifier[0] = TokenLimits.Version;
        BinaryPrimitives.WriteUInt32BigEndian(identifier[1..], epoch);
        identifier[TokenLimits.FlagsOffset] = 0;
        grant.WriteBytes(identifier[(TokenLimits.FlagsOffset + 1)..]);

        Span<byte> tag0 = stackalloc byte[TokenLimits.TagLength];
        _keys.TryComputeTag0(epoch, identifier, tag0);
        try
        {
            return CapabilityToken.Build(epoch, grant, [], 0, tag0, caveats);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(tag0);
        }
    }
}
