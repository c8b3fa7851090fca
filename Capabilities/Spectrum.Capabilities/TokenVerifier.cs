using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text.Unicode;

namespace Spectrum.Capabilities;

/// <summary>
/// Decides whether a token allows a request. First the chain: recompute it from the epoch key over
/// the exact bytes of the token, compare the tag in constant time, and check every step's
/// revocation id. Then clear the caveats: every one must hold, and none can widen what another
/// restricts.
/// </summary>
/// <remarks>
/// <para>Caveat semantics:</para>
/// <list type="bullet">
/// <item><c>path</c>: the request path must be within <em>every</em> path caveat, so two sibling
/// path caveats allow nothing.</item>
/// <item><c>rights</c>: the intersection of all rights caveats (<see cref="Rights.All"/> when there
/// are none; the broker intersects with the grant); the requested rights must be a subset.</item>
/// <item><c>not_after</c>: the earliest wins; valid while now &lt; not_after, so a token is expired
/// exactly at its not_after second. <c>not_before</c>: the latest wins; valid from exactly that
/// second on. Times are whole unix seconds (now is truncated).</item>
/// <item><c>holder</c>: every holder caveat must name the VM whose channel the token came on; the
/// host (null holder) fails any holder caveat.</item>
/// <item><c>once</c>: returned for the broker to consume; <c>no_delegate</c>: refuses delegation.
/// Delegation also needs the <c>grant</c> right. <c>label</c>: informational.</item>
/// </list>
/// <para>The success path allocates only the verdict and its lists: no key import, no strings, no
/// per-step buffers (see TokenBenchmarks).</para>
/// </remarks>
public sealed class TokenVerifier(TokenKeyRing keys)
{
    private readonly TokenKeyRing _keys = keys ?? throw new ArgumentNullException(nameof(keys));

    /// <summary>Decodes <paramref name="text"/> and verifies it; a decode failure is <see cref="TokenRejection.Malformed"/>.</summary>
    public TokenVerdict Verify(string? text, in VerifyContext context, IRevocationLookup revoked)
    {
        if (!CapabilityToken.TryDecode(text, out var token, out var error))
        {
            return TokenVerdict.Reject(TokenRejection.Malformed, error, default);
        }

        return Verify(token, context, revoked);
    }

    /// <summary>Verifies <paramref name="token"/> against the request in <paramref name="context"/>.</summary>
    public TokenVerdict Verify(CapabilityToken token, in VerifyContext context, IRevocationLookup revoked)
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(revoked);
        if (context.Path.Value is null)
        {
            throw new ArgumentException("the request path is uninitialized (default TreePath)", nameof(context));
        }

        var grant = token.GrantId;
        var binary = token.Binary;
        if (!_keys.HasEpoch(token.Epoch))
        {
            return TokenVerdict.Reject(
                TokenRejection.UnknownEpoch,
                $"token was minted under key epoch {token.Epoch.ToString(CultureInfo.InvariantCulture)}, which this broker does not (or no longer) accept",
                grant);
        }

        if (token.CaveatCount == 0)
        {
            return TokenVerdict.Reject(TokenRejection.NoCaveats, "token has no caveats", grant);
        }

        // The chain. The identifier is the header with the sealed bit clear, so sealing does not
        // change tag0; the seal step is what distinguishes a sealed token.
        Span<byte> identifier = stackalloc byte[TokenLimits.IdentifierLength];
        binary[..TokenLimits.IdentifierLength].CopyTo(identifier);
        identifier[TokenLimits.FlagsOffset] &= unchecked((byte)~TokenLimits.SealedFlag);

        var steps = token.CaveatCount + 1 + (token.IsSealed ? 1 : 0);
        Span<byte> ids = stackalloc byte[TokenLimits.MaxChainSteps * RevocationId.Length];
        ids = ids[..(steps * RevocationId.Length)];
        Span<byte> tag = stackalloc byte[TokenLimits.TagLength];
        _keys.TryComputeTag0(token.Epoch, identifier, tag);
        MacaroonChain.RevocationId(tag, ids[..RevocationId.Length]);

        var position = TokenLimits.HeaderLength;
        for (var step = 1; step <= token.CaveatCount; step++)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(binary[(position + 1)..]);
            var wire = binary.Slice(position, TokenLimits.CaveatHeaderLength + length);
            MacaroonChain.Step(tag, wire);
            MacaroonChain.RevocationId(tag, ids.Slice(step * RevocationId.Length, RevocationId.Length));
            position += wire.Length;
        }

        if (token.IsSealed)
        {
            MacaroonChain.Seal(tag);
            MacaroonChain.RevocationId(tag, ids[^RevocationId.Length..]);
        }

        var tagMatches = System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(tag, token.Tag);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(tag);
        if (!tagMatches)
        {
            return TokenVerdict.Reject(TokenRejection.BadTag, "token signature does not verify; it was tampered with, truncated or minted with another key", grant);
        }

        var revocationIds = new RevocationId[steps];
        for (var step = 0; step < steps; step++)
        {
            revocationIds[step] = RevocationId.FromBytes(ids.Slice(step * RevocationId.Length, RevocationId.Length));
        }

        for (var step = 0; step < steps; step++)
        {
            if (revoked.IsRevoked(ids.Slice(step * RevocationId.Length, RevocationId.Length)))
            {
                return TokenVerdict.Reject(
                    TokenRejection.Revoked,
                    $"token is revoked (chain step {step.ToString(CultureInfo.InvariantCulture)}, revocation id {revocationIds[step]})",
                    grant,
                    revocationIds);
            }
        }

        return Clear(token, context, grant, revocationIds);
    }

    private static TokenVerdict Clear(CapabilityToken token, in VerifyContext context, GrantId grant, RevocationId[] revocationIds)
    {
        var binary = token.Binary;
        var rights = Rights.All;
        var notAfter = long.MaxValue;
        var notBefore = long.MinValue;
        var noDelegate = false;
        var onceCount = 0;

        // Safe bound: TreePath keeps its UTF-8 form under PathMax bytes.
        Span<byte> requestPath = stackalloc byte[TreePath.PathMax];
        var requestPathLength = -1;

        var position = TokenLimits.HeaderLength;
        for (var i = 0; i < token.CaveatCount; i++)
        {
            var type = (CaveatType)binary[position];
            var length = BinaryPrimitives.ReadUInt16BigEndian(binary[(position + 1)..]);
            var value = binary.Slice(position + TokenLimits.CaveatHeaderLength, length);
            position += TokenLimits.CaveatHeaderLength + length;
            switch (type)
            {
                case CaveatType.Path:
                    if (requestPathLength < 0)
                    {
                        var status = Utf8.FromUtf16(context.Path.Value, requestPath, out _, out requestPathLength, replaceInvalidSequences: false);
                        if (status != OperationStatus.Done)
                        {
                            return TokenVerdict.Reject(TokenRejection.PathNotCovered, "request path is not valid Unicode", grant, revocationIds);
                        }
                    }

                    if (!IsWithin(requestPath[..requestPathLength], value))
                    {
                        return TokenVerdict.Reject(TokenRejection.PathNotCovered, $"token does not cover path {context.Path}", grant, revocationIds);
                    }

                    break;
                case CaveatType.Rights:
                    rights &= (Rights)BinaryPrimitives.ReadUInt16BigEndian(value);
                    break;
                case CaveatType.NotAfter:
                    notAfter = Math.Min(notAfter, BinaryPrimitives.ReadInt64BigEndian(value));
                    break;
                case CaveatType.NotBefore:
                    notBefore = Math.Max(notBefore, BinaryPrimitives.ReadInt64BigEndian(value));
                    break;
                case CaveatType.Holder:
                    if (!HolderEquals(context.Holder, value))
                    {
                        return TokenVerdict.Reject(
                            TokenRejection.WrongHolder,
                            context.Holder is null ? "token is bound to a VM and was not presented on a VM channel" : $"token is bound to another VM than {context.Holder}",
                            grant,
                            revocationIds);
                    }

                    break;
                case CaveatType.Once:
                    onceCount++;
                    break;
                case CaveatType.NoDelegate:
                    noDelegate = true;
                    break;
                case CaveatType.Label:
                    break;
                default:
                    // Unreachable: the decoder refuses unknown types. Fail closed anyway.
                    return TokenVerdict.Reject(TokenRejection.Malformed, "token has an unknown caveat type", grant, revocationIds);
            }
        }

        var now = context.Now.ToUnixTimeSeconds();
        if (now < notBefore)
        {
            return TokenVerdict.Reject(TokenRejection.NotYetValid, $"token is not valid before {Format(notBefore)}", grant, revocationIds);
        }

        if (now >= notAfter)
        {
            return TokenVerdict.Reject(TokenRejection.Expired, $"token expired at {Format(notAfter)}", grant, revocationIds);
        }

        if ((context.Rights & ~rights) != 0)
        {
            return TokenVerdict.Reject(
                TokenRejection.RightsNotCovered,
                $"token allows {RightsText.Format(rights)} but the request needs {RightsText.Format(context.Rights)}",
                grant,
                revocationIds);
        }

        if (context.Delegating)
        {
            if (noDelegate)
            {
                return TokenVerdict.Reject(TokenRejection.DelegationForbidden, "token may not be delegated (no_delegate)", grant, revocationIds);
            }

            if ((rights & Rights.Grant) == 0)
            {
                return TokenVerdict.Reject(TokenRejection.DelegationForbidden, "token lacks the grant right needed to delegate", grant, revocationIds);
            }
        }

        return TokenVerdict.Accept(
            grant,
            rights,
            notAfter == long.MaxValue ? null : DateTimeOffset.FromUnixTimeSeconds(notAfter),
            onceCount == 0 ? [] : CollectOnce(token, onceCount),
            revocationIds);
    }

    private static OnceNonce[] CollectOnce(CapabilityToken token, int count)
    {
        var nonces = new OnceNonce[count];
        var binary = token.Binary;
        var position = TokenLimits.HeaderLength;
        var found = 0;
        for (var i = 0; i < token.CaveatCount; i++)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(binary[(position + 1)..]);
            if ((CaveatType)binary[position] == CaveatType.Once)
            {
                nonces[found++] = OnceNonce.FromBytes(binary.Slice(position + TokenLimits.CaveatHeaderLength, length));
            }

            position += TokenLimits.CaveatHeaderLength + length;
        }

        return nonces;
    }

    /// <summary>Byte form of <see cref="TreePath.IsWithin"/> (both sides are canonical).</summary>
    private static bool IsWithin(ReadOnlySpan<byte> request, ReadOnlySpan<byte> ancestor) =>
        ancestor is [(byte)'.']
        || request.SequenceEqual(ancestor)
        || (request.Length > ancestor.Length && request.StartsWith(ancestor) && request[ancestor.Length] == (byte)'/');

    /// <summary>Holder values are validated ASCII, so a char-by-byte comparison is exact.</summary>
    private static bool HolderEquals(string? holder, ReadOnlySpan<byte> value)
    {
        if (holder is null || holder.Length != value.Length)
        {
            return false;
        }

        for (var i = 0; i < value.Length; i++)
        {
            if (holder[i] != value[i])
            {
                return false;
            }
        }

        return true;
    }

    private static string Format(long unixSeconds) =>
        DateTimeOffset.FromUnixTimeSeconds(unixSeconds).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
