namespace Spectrum.Capabilities;

/// <summary>
/// Why a token was refused. The values are stable (they go to the audit log); add new ones only
/// at the end.
/// </summary>
public enum TokenRejection
{
    /// <summary>Not rejected.</summary>
    None = 0,

    /// <summary>The text did not decode (see the message).</summary>
    Malformed = 1,

    /// <summary>The token's key epoch is not (or no longer) in the key ring.</summary>
    UnknownEpoch = 2,

    /// <summary>The chain does not reproduce the tag: forged, tampered, or another key.</summary>
    BadTag = 3,

    /// <summary>A step of the token's chain has been revoked.</summary>
    Revoked = 4,

    /// <summary>The token has no caveats.</summary>
    NoCaveats = 5,

    /// <summary>Now is at or after the earliest <c>not_after</c>.</summary>
    Expired = 6,

    /// <summary>Now is before the latest <c>not_before</c>.</summary>
    NotYetValid = 7,

    /// <summary>The request path is not within every <c>path</c> caveat.</summary>
    PathNotCovered = 8,

    /// <summary>The requested rights are not within the intersection of the <c>rights</c> caveats.</summary>
    RightsNotCovered = 9,

    /// <summary>A <c>holder</c> caveat names another VM than the channel's.</summary>
    WrongHolder = 10,

    /// <summary>Delegation was asked for without the <c>grant</c> right, or with <c>no_delegate</c>.</summary>
    DelegationForbidden = 11,
}

/// <summary>
/// What the verifier decided, and on success what the token allows: the broker intersects
/// <see cref="EffectiveRights"/> with the grant, consumes <see cref="OnceNonces"/> in its database
/// and records <see cref="RevocationIds"/>. The message is one line for the audit log and never
/// contains the token or its tag.
/// </summary>
public sealed class TokenVerdict
{
    private TokenVerdict(
        TokenRejection rejection,
        string message,
        GrantId grantId,
        Rights effectiveRights,
        DateTimeOffset? notAfter,
        IReadOnlyList<OnceNonce> onceNonces,
        IReadOnlyList<RevocationId> revocationIds)
    {
        Rejection = rejection;
        Message = message;
        GrantId = grantId;
        EffectiveRights = effectiveRights;
        NotAfter = notAfter;
        OnceNonces = onceNonces;
        RevocationIds = revocationIds;
    }

    /// <summary>True when the token allows the request.</summary>
    public bool IsValid => Rejection == TokenRejection.None;

    /// <summary>Why not, or <see cref="TokenRejection.None"/>.</summary>
    public TokenRejection Rejection { get; }

    /// <summary>One line naming the cause (or "token is valid").</summary>
    public string Message { get; }

    /// <summary>The grant the token is bound to (empty when the token did not decode).</summary>
    public GrantId GrantId { get; }

    /// <summary>
    /// Intersection of the token's rights caveats (<see cref="Rights.All"/> when it has none: the
    /// token then carries whatever the grant has). <see cref="Rights.None"/> when rejected.
    /// </summary>
    public Rights EffectiveRights { get; }

    /// <summary>The earliest <c>not_after</c>, if any.</summary>
    public DateTimeOffset? NotAfter { get; }

    /// <summary>The <c>once</c> nonces the broker must consume (empty when rejected).</summary>
    public IReadOnlyList<OnceNonce> OnceNonces { get; }

    /// <summary>
    /// Revocation ids of every chain step, tag0 first (and the seal step last for a sealed token).
    /// Filled once the tag has verified, also for later rejections; empty otherwise.
    /// </summary>
    public IReadOnlyList<RevocationId> RevocationIds { get; }

    internal static TokenVerdict Accept(GrantId grantId, Rights rights, DateTimeOffset? notAfter, IReadOnlyList<OnceNonce> nonces, IReadOnlyList<RevocationId> ids) =>
        new(TokenRejection.None, "token is valid", grantId, rights, notAfter, nonces, ids);

    internal static TokenVerdict Reject(TokenRejection reason, string message, GrantId grantId, IReadOnlyList<RevocationId>? ids = null) =>
        new(reason, message, grantId, Rights.None, null, [], ids ?? []);

    /// <inheritdoc />
    public override string ToString() => IsValid ? $"valid {GrantId} rights {RightsText.Format(EffectiveRights)}" : $"{Rejection}: {Message}";
}

/// <summary>The request a token is verified against.</summary>
/// <param name="Path">The path the request is about.</param>
/// <param name="Rights">The rights the request needs.</param>
/// <param name="Now">The current time (from the injected <c>TimeProvider</c>).</param>
/// <param name="Holder">The VM whose channel the token arrived on; null for the host CLI.</param>
/// <param name="Delegating">True when the token is used to delegate a grant to another VM.</param>
public readonly record struct VerifyContext(TreePath Path, Rights Rights, DateTimeOffset Now, string? Holder = null, bool Delegating = false);

/// <summary>
/// Answers whether a revocation id has been revoked. The broker backs it with its compiled
/// in-memory set; the verifier does no I/O.
/// </summary>
public interface IRevocationLookup
{
    /// <summary>True when <paramref name="revocationId"/> (32 bytes) is revoked.</summary>
    bool IsRevoked(ReadOnlySpan<byte> revocationId);
}

/// <summary>
/// An in-memory <see cref="IRevocationLookup"/> over a hash set. Lookups allocate nothing. Not
/// thread-safe for writes: build a new set and swap it in when revocations change.
/// </summary>
public sealed class RevocationSet : IRevocationLookup
{
    private readonly HashSet<RevocationId> _ids = [];

    /// <summary>An empty set (nothing revoked).</summary>
    public RevocationSet()
    {
    }

    /// <summary>A set holding <paramref name="ids"/>.</summary>
    public RevocationSet(IEnumerable<RevocationId> ids) => _ids.UnionWith(ids);

    /// <summary>Number of revoked ids.</summary>
    public int Count => _ids.Count;

    /// <summary>Revokes <paramref name="id"/>; false if it already was.</summary>
    public bool Add(RevocationId id) => _ids.Add(id);

    /// <summary>True when <paramref name="id"/> is revoked.</summary>
    public bool Contains(RevocationId id) => _ids.Contains(id);

    /// <inheritdoc />
    public bool IsRevoked(ReadOnlySpan<byte> revocationId) =>
        revocationId.Length == RevocationId.Length && _ids.Contains(RevocationId.FromBytes(revocationId));
}
