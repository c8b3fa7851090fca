using System.Collections.Frozen;
using NSec.Cryptography;

namespace Spectrum.Capabilities;

/// <summary>
/// The broker's token keys: one 32-byte root key per key epoch, and the epoch new tokens are
/// minted under. Rotating keys = adding an epoch and making it current; retiring an epoch = building
/// a ring without it, which rejects its tokens (<see cref="TokenRejection.UnknownEpoch"/>).
/// </summary>
/// <remarks>
/// Each root key R_e is turned into the libmacaroons derived key
/// K_e = HMAC-SHA256("macaroons-key-generator", R_e) and imported into an NSec <see cref="Key"/>
/// once, when the ring is built; the raw bytes are not kept, and verification never imports a
/// key. Dispose the ring to free the keys' secure memory.
/// </remarks>
public sealed class TokenKeyRing : IDisposable
{
    private readonly FrozenDictionary<uint, Key> _keys;
    private bool _disposed;

    private TokenKeyRing(FrozenDictionary<uint, Key> keys, uint currentEpoch)
    {
        _keys = keys;
        CurrentEpoch = currentEpoch;
    }

    /// <summary>The epoch new tokens are minted under.</summary>
    public uint CurrentEpoch { get; }

    /// <summary>Every epoch whose tokens are accepted.</summary>
    public IReadOnlyCollection<uint> Epochs => _keys.Keys;

    /// <summary>True when tokens of <paramref name="epoch"/> are accepted.</summary>
    public bool HasEpoch(uint epoch) => _keys.ContainsKey(epoch);

    /// <summary>A fresh random 32-byte root key (store it mode 0600; it never leaves the broker).</summary>
    public static byte[] GenerateRootKey() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(TokenLimits.RootKeyLength);

    /// <summary>A ring with a single epoch, which is current.</summary>
    public static TokenKeyRing Create(uint epoch, ReadOnlySpan<byte> rootKey)
    {
        using var builder = new Builder();
        builder.Add(epoch, rootKey);
        return builder.Build(epoch);
    }

    /// <summary>
    /// tag0 = HMAC(K_e, identifier) with the imported key. False when the epoch is unknown.
    /// </summary>
    internal bool TryComputeTag0(uint epoch, ReadOnlySpan<byte> identifier, Span<byte> tag)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_keys.TryGetValue(epoch, out var key))
        {
            return false;
        }

        MacAlgorithm.HmacSha256.Mac(key, identifier, tag);
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var key in _keys.Values)
        {
            key.Dispose();
        }
    }

    /// <summary>
    /// Collects epoch keys. Each root key is derived and imported as soon as it is added, so the
    /// caller can wipe its copy right away.
    /// </summary>
    public sealed class Builder : IDisposable
    {
        private readonly Dictionary<uint, Key> _keys = [];
        private bool _built;

        /// <summary>Adds the 32-byte root key of <paramref name="epoch"/>.</summary>
        public Builder Add(uint epoch, ReadOnlySpan<byte> rootKey)
        {
            ObjectDisposedException.ThrowIf(_built, this);
            if (rootKey.Length != TokenLimits.RootKeyLength)
            {
                throw new ArgumentException($"a token root key is {TokenLimits.RootKeyLength} bytes, not {rootKey.Length}", nameof(rootKey));
            }

            if (_keys.ContainsKey(epoch))
            {
                throw new ArgumentException($"key epoch {epoch} was added twice", nameof(epoch));
            }

            // HMAC zero-pads keys shorter than a block, so the 23-byte generator key padded to
            // 32 bytes (NSec's minimum HMAC key) gives exactly the libmacaroons derivation.
            Span<byte> generator = stackalloc byte[32];
            generator.Clear();
            MacaroonChain.KeyGeneratorKey.CopyTo(generator);
            Span<byte> derived = stackalloc byte[MacaroonChain.TagLength];
            try
            {
                using (var generatorKey = Key.Import(MacAlgorithm.HmacSha256, generator, KeyBlobFormat.RawSymmetricKey))
                {
                    MacAlgorithm.HmacSha256.Mac(generatorKey, rootKey, derived);
                }

                _keys.Add(epoch, Key.Import(MacAlgorithm.HmacSha256, derived, KeyBlobFormat.RawSymmetricKey));
            }
            finally
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(derived);
            }

            return this;
        }

        /// <summary>Builds the ring; the builder hands its keys over and cannot be used again.</summary>
        public TokenKeyRing Build(uint currentEpoch)
        {
            ObjectDisposedException.ThrowIf(_built, this);
            if (!_keys.ContainsKey(currentEpoch))
            {
                throw new ArgumentException($"the current key epoch {currentEpoch} has no key", nameof(currentEpoch));
            }

            _built = true;
            return new TokenKeyRing(_keys.ToFrozenDictionary(), currentEpoch);
        }

        /// <inheritdoc />
        public void Dispose()
        {
            if (_built)
            {
                return;
            }

            _built = true;
            foreach (var key in _keys.Values)
            {
                key.Dispose();
            }
        }
    }
}
