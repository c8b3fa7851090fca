using Spectrum.Broker.Contracts;
using Spectrum.Broker.Grants;
using Spectrum.Broker.State;
using Spectrum.Capabilities;

namespace Spectrum.Broker.Hosting;

/// <summary>
/// Capability tokens for grants: minting, verification against the live store, redemption
/// (delegation to another VM), revocation by revocation id, and key rotation. Tokens are never
/// logged or audited; grant ids and revocation ids are.
/// </summary>
public sealed class TokenService : IDisposable
{
    private readonly BrokerServices _services;
    private readonly Lock _lock = new();
    private readonly RevocationSet _revoked;
    private RootKeyFile _keyFile;
    private TokenKeyRing _ring;

    public TokenService(BrokerServices services, RootKeyFile keyFile)
    {
        _services = services;
        _keyFile = keyFile;
        _ring = BuildRing(keyFile);
        using var connection = services.Store.Read();
        _revoked = new RevocationSet(Dapper.SqlMapper.Query<byte[]>(connection, "SELECT rev_id FROM revocations").Select(b => RevocationId.FromBytes(b)));
    }

    public uint CurrentEpoch
    {
        get
        {
            lock (_lock)
            {
                return _ring.CurrentEpoch;
            }
        }
    }

    private static TokenKeyRing BuildRing(RootKeyFile file)
    {
        using var builder = new TokenKeyRing.Builder();
        foreach (var (epoch, key) in file.Epochs)
        {
            builder.Add(epoch, key);
        }

        return builder.Build(file.CurrentEpoch);
    }

    /// <summary>A token for <paramref name="grant"/>: bound to its id, its path and rights, and its expiry.</summary>
    public string Mint(GrantRow grant)
    {
        var caveats = new List<Caveat> { Caveat.Path(grant.TreePath), Caveat.OfRights(grant.RightsValue) };
        if (grant.ExpiresAt is { } e)
        {
            caveats.Add(Caveat.NotAfter(DateTimeOffset.FromUnixTimeMilliseconds(e)));
        }

        lock (_lock)
        {
            return new TokenIssuer(_ring).Mint(GrantId.Parse(grant.Id), [.. caveats]).Encode();
        }
    }

    /// <summary>Checks a token against the request and the live store, consuming nothing.</summary>
    public TokenVerifyResult Verify(TokenRequest request)
    {
        var (token, grant, verdict) = Check(request, delegatingTo: null);
        return new TokenVerifyResult
        {
            Valid = verdict.IsValid && grant is not null,
            Reason = verdict.IsValid ? (grant is null ? "the grant this token belongs to has ended" : null) : verdict.Message,
            GrantId = token.GrantId.ToString(),
            EffectiveRights = verdict.IsValid && grant is not null ? RightsText.Format(verdict.EffectiveRights & grant.RightsValue) : null,
            NotAfter = verdict.NotAfter,
        };
    }

    private (CapabilityToken Token, GrantRow? Grant, TokenVerdict Verdict) Check(TokenRequest request, string? delegatingTo)
    {
        if (!CapabilityToken.TryDecode(request.Token, out var token, out var error))
        {
            throw BrokerRefusal.Bad($"{error}; pass the whole spg1_ token as printed by `spectrum-grant grant --token`");
        }

        GrantRow? grant = null;
        try
        {
            grant = _services.Grants.Show(token.GrantId.ToString());
        }
        catch (BrokerRefusal e) when (e.Kind == RefusalKind.NotFound)
        {
            // Reported below as an ended grant; the tag is still checked first so nothing leaks.
        }

        var path = request.Path is null ? NarrowestPath(token) ?? (grant is null ? TreePath.Root : grant.TreePath) : GrantService.ValidatePath(request.Path);
        var rights = request.Rights is null ? Rights.None : GrantService.ValidateRights(request.Rights);
        var holder = request.Vm is null ? null : GrantService.ValidateVm(request.Vm);
        var context = new VerifyContext(path, rights, DateTimeOffset.FromUnixTimeMilliseconds(_services.Store.NowMs), holder, Delegating: delegatingTo is not null && grant is not null && delegatingTo != grant.Vm);
        TokenVerdict verdict;
        lock (_lock)
        {
            verdict = new TokenVerifier(_ring).Verify(token, context, _revoked);
        }

        var live = grant is not null && grant.IsLiveAt(_services.Store.NowMs) && (grant.RightsValue & rights) == rights && grant.Covers(path) ? grant : null;
        return (token, live, verdict);
    }

    private static TreePath? NarrowestPath(CapabilityToken token)
    {
        TreePath? narrowest = null;
        foreach (var caveat in token.Caveats)
        {
            if (caveat.Type == CaveatType.Path)
            {
                var p = caveat.AsPath();
                if (narrowest is null || p.IsWithin(narrowest.Value))
                {
                    narrowest = p;
                }
            }
        }

        return narrowest;
    }

    /// <summary>
    /// Redeems a token for a VM. For another VM than the grant's, this is a delegation: the token
    /// must carry the <c>grant</c> right and no <c>no_delegate</c>, and a delegation grant is
    /// created under the original. Single-use nonces are consumed in the same transaction.
    /// </summary>
    public async Task<GrantRow> RedeemAsync(string actor, TokenRequest request, CancellationToken ct)
    {
        var vm = GrantService.ValidateVm(request.Vm ?? throw BrokerRefusal.Bad("redeem needs the VM that receives the access (vm)"));
        var (token, grant, verdict) = Check(request, delegatingTo: vm);
        if (!verdict.IsValid || grant is null)
        {
            var reason = !verdict.IsValid ? verdict.Message : "the grant this token belongs to has ended, or does not allow what was asked";
            _services.Store.Write(tx => tx.Audit(actor, AuditActions.Redeem, "refused", vm, request.Path, request.Rights, token.GrantId.ToString(), reason));
            throw BrokerRefusal.Forbidden($"token refused: {reason}");
        }

        var path = request.Path is null ? NarrowestPath(token) ?? grant.TreePath : GrantService.ValidatePath(request.Path);
        var rights = request.Rights is null ? verdict.EffectiveRights & grant.RightsValue : GrantService.ValidateRights(request.Rights);
        if (vm != grant.Vm)
        {
            // A delegate never receives the right to delegate further unless it was asked for explicitly and held.
            rights = request.Rights is null ? rights & ~Rights.Grant : rights;
        }

        var (kind, identity, parentIdentity) = vm == grant.Vm ? (grant.Kind, default(Interop.FileIdentity?), default(Interop.FileIdentity?)) : _services.Tree.ResolveWithParent(path);
        var nonces = new List<byte[]>();
        foreach (var nonce in verdict.OnceNonces)
        {
            var bytes = new byte[OnceNonce.Length];
            nonce.CopyTo(bytes);
            nonces.Add(bytes);
        }

        var redeemed = await _services.Store.WriteAsync<GrantRow?>(tx =>
        {
            // A replay commits only its refusal record (throwing here would roll that record back too).
            if (nonces.Exists(bytes => tx.Scalar<long>("SELECT count(*) FROM once_nonces WHERE nonce = @bytes", new { bytes }) > 0))
            {
                tx.Audit(actor, AuditActions.Redeem, "refused", vm, path.Value, RightsText.Format(rights), grant.Id, "single-use token was already redeemed");
                return null;
            }

            foreach (var bytes in nonces)
            {
                tx.Execute("INSERT INTO once_nonces (nonce, grant_id, used_at) VALUES (@bytes, @id, @now) ON CONFLICT (nonce) DO NOTHING", new { bytes, id = grant.Id, now = tx.NowMs });
            }

            var revocationIds = string.Join(',', verdict.RevocationIds.Select(r => r.ToString()));
            if (vm == grant.Vm)
            {
                tx.Audit(actor, AuditActions.Redeem, "ok", vm, path.Value, RightsText.Format(rights), grant.Id, $"redeemed by its own VM; token {verdict.RevocationIds[^1]}");
                return grant;
            }

            var expiresAt = verdict.NotAfter?.ToUnixTimeMilliseconds() is { } na && (grant.ExpiresAt is null || na < grant.ExpiresAt) ? na : grant.ExpiresAt;
            var row = GrantService.Insert(
                tx,
                actor,
                vm,
                path,
                kind,
                rights,
                expiresAt,
                new GrantSpec { Vm = vm, Path = path.Value, Source = GrantSources.Delegation, SourceDetail = $"token {verdict.RevocationIds[^1]}", Parent = grant.Id, Session = grant.Persistence == "session" },
                identity,
                parentIdentity: parentIdentity);
            foreach (var id in verdict.RevocationIds)
            {
                tx.Execute("INSERT INTO grant_revocation_ids (rev_id, grant_id) VALUES (@rev, @grant) ON CONFLICT DO NOTHING", new { rev = Bytes(id), grant = row.Id });
            }

            tx.Audit(actor, AuditActions.Redeem, "ok", vm, path.Value, RightsText.Format(rights), row.Id, $"delegated from {grant.Id} ({grant.Vm}); revocation ids {revocationIds}");
            return row;
        }, ct).ConfigureAwait(false);
        return redeemed ?? throw BrokerRefusal.Conflict("token refused: it is single-use and was already redeemed");
    }

    /// <summary>Revokes a token by revocation id: that token, every token derived from it, and the delegations redeemed with them.</summary>
    public Task<IReadOnlyList<string>> RevokeTokenAsync(string actor, string revocationIdText, CancellationToken ct)
    {
        if (!RevocationId.TryParse(revocationIdText, out var id))
        {
            throw BrokerRefusal.Bad($"bad revocation id '{revocationIdText}'; it is the 64 hex digits `spectrum-grant token inspect` prints");
        }

        return _services.Store.WriteAsync<IReadOnlyList<string>>(tx =>
        {
            var bytes = Bytes(id.Value);
            tx.Execute("INSERT INTO revocations (rev_id, revoked_at, actor) VALUES (@bytes, @now, @actor) ON CONFLICT DO NOTHING", new { bytes, now = tx.NowMs, actor });
            var grants = tx.Query<string>("SELECT grant_id FROM grant_revocation_ids WHERE rev_id = @bytes ORDER BY grant_id", new { bytes }).ToList();
            tx.Audit(actor, AuditActions.Revoke, "ok", detail: $"token revocation id {id.Value}");
            var ended = GrantService.EndWithDescendants(tx, actor, grants, GrantStates.Revoked, AuditActions.Revoke, $"token {id.Value} revoked");
            lock (_lock)
            {
                _revoked.Add(id.Value);
            }

            return ended;
        }, ct);
    }

    /// <summary>Starts a new key epoch; tokens minted under older epochs stop verifying.</summary>
    public async Task<StatusDto> RotateAsync(string actor, CancellationToken ct)
    {
        await _services.Store.WriteAsync(tx =>
        {
            lock (_lock)
            {
                _keyFile = _keyFile.Rotate();
                var old = _ring;
                _ring = BuildRing(_keyFile);
                old.Dispose();
                tx.Audit(actor, AuditActions.Revoke, "ok", detail: $"root key rotated to epoch {_ring.CurrentEpoch}; tokens of older epochs no longer verify");
            }

            return 0;
        }, ct).ConfigureAwait(false);
        return _services.Status();
    }

    private static byte[] Bytes(RevocationId id)
    {
        var bytes = new byte[RevocationId.Length];
        id.CopyTo(bytes);
        return bytes;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _ring.Dispose();
        }
    }
}
