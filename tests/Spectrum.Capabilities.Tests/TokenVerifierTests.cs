namespace Spectrum.Capabilities.Tests;

/// <summary>Expiry boundaries, revocation and once nonces.</summary>
public class TokenVerifierTests
{
    private static readonly DateTimeOffset End = TokenFixture.Now.AddHours(1);

    [Fact]
    public void Verify_ExactlyAtNotAfter_IsExpired()
    {
        var token = TokenFixture.Mint(Caveat.NotAfter(End));
        Assert.Equal(TokenRejection.Expired, TokenFixture.Verify(token, TokenFixture.Request(now: End)).Rejection);
        Assert.Equal(TokenRejection.Expired, TokenFixture.Verify(token, TokenFixture.Request(now: End.AddTicks(1))).Rejection);
    }

    [Fact]
    public void Verify_JustBeforeNotAfter_IsValid()
    {
        var token = TokenFixture.Mint(Caveat.NotAfter(End));
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request(now: End.AddTicks(-1))).IsValid);
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request(now: End.AddSeconds(-1))).IsValid);
    }

    [Fact]
    public void Verify_ExactlyAtNotBefore_IsValid()
    {
        var token = TokenFixture.Mint(Caveat.NotBefore(End));
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request(now: End)).IsValid);
    }

    [Fact]
    public void Verify_JustBeforeNotBefore_IsNotYetValid()
    {
        var token = TokenFixture.Mint(Caveat.NotBefore(End));
        Assert.Equal(TokenRejection.NotYetValid, TokenFixture.Verify(token, TokenFixture.Request(now: End.AddTicks(-1))).Rejection);
    }

    [Fact]
    public void Verify_LatestNotBefore_Wins()
    {
        var token = TokenFixture.Mint(Caveat.NotBefore(TokenFixture.Now.AddHours(-1))).Attenuate(Caveat.NotBefore(End));
        Assert.Equal(TokenRejection.NotYetValid, TokenFixture.Verify(token, TokenFixture.Request()).Rejection);
    }

    [Fact]
    public void Caveat_NotAfter_TruncatesToWholeSeconds()
    {
        var caveat = Caveat.NotAfter(End.AddMilliseconds(999));
        Assert.Equal(End, caveat.AsTime());
    }

    [Fact]
    public void Verify_RevokedLeafStep_KillsOnlyThatToken()
    {
        var parent = TokenFixture.Typical();
        var child = parent.Attenuate(Caveat.Path(TreePath.Parse("Documents/tax")));
        var sibling = parent.Attenuate(Caveat.Path(TreePath.Parse("Documents/music")));
        var grandchild = child.Attenuate(Caveat.Label("for the accountant"));
        var revoked = new RevocationSet([child.LastRevocationId]);

        Assert.Equal(TokenRejection.Revoked, Verify(child, "Documents/tax/a", revoked).Rejection);
        Assert.Equal(TokenRejection.Revoked, Verify(grandchild, "Documents/tax/a", revoked).Rejection);
        Assert.Equal(TokenRejection.Revoked, Verify(child.Seal(), "Documents/tax/a", revoked).Rejection);
        Assert.True(Verify(parent, "Documents/tax/a", revoked).IsValid);
        Assert.True(Verify(sibling, "Documents/music/a", revoked).IsValid);
    }

    [Fact]
    public void Verify_RevokedRootStep_KillsEveryTokenOfTheGrantMint()
    {
        var parent = TokenFixture.Typical();
        var child = parent.Attenuate(Caveat.Label("x"));
        var verdict = TokenFixture.Verify(parent, TokenFixture.Request());
        var revoked = new RevocationSet([verdict.RevocationIds[0]]);
        Assert.Equal(TokenRejection.Revoked, Verify(parent, "Documents/a", revoked).Rejection);
        Assert.Equal(TokenRejection.Revoked, Verify(child, "Documents/a", revoked).Rejection);
    }

    [Fact]
    public void Verify_RevokedSealStep_KillsSealedButNotUnsealedParent()
    {
        var parent = TokenFixture.Typical();
        var sealedToken = parent.Seal();
        var revoked = new RevocationSet([sealedToken.LastRevocationId]);
        Assert.Equal(TokenRejection.Revoked, Verify(sealedToken, "Documents/a", revoked).Rejection);
        Assert.True(Verify(parent, "Documents/a", revoked).IsValid);
    }

    [Fact]
    public void Verify_Verdict_ListsRevocationIdsOfEveryStepSharedWithParent()
    {
        var parent = TokenFixture.Typical();
        var child = parent.Attenuate(Caveat.Label("x"));
        var parentIds = TokenFixture.Verify(parent, TokenFixture.Request()).RevocationIds;
        var childIds = TokenFixture.Verify(child, TokenFixture.Request()).RevocationIds;
        Assert.Equal(parentIds, childIds.Take(parentIds.Count));
        Assert.Equal(parent.LastRevocationId, parentIds[^1]);
        Assert.Equal(child.LastRevocationId, childIds[^1]);
        Assert.Equal(parentIds.Count + 1, childIds.Count);
    }

    [Fact]
    public void Verify_Revoked_MessageNamesRevocationIdNotToken()
    {
        var token = TokenFixture.Typical();
        var verdict = Verify(token, "Documents/a", new RevocationSet([token.LastRevocationId]));
        Assert.Contains(token.LastRevocationId.ToString(), verdict.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("spg1_", verdict.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_OnceCaveats_AreReturnedForTheBroker()
    {
        var first = OnceNonce.New();
        var second = OnceNonce.New();
        var token = TokenFixture.Typical().Attenuate(Caveat.Once(first), Caveat.Label("x"), Caveat.Once(second));
        var verdict = TokenFixture.Verify(token, TokenFixture.Request());
        Assert.True(verdict.IsValid);
        Assert.Equal([first, second], verdict.OnceNonces);
        Assert.Empty(TokenFixture.Verify(TokenFixture.Typical(), TokenFixture.Request()).OnceNonces);
    }

    [Fact]
    public void Verify_MalformedText_IsRejectedAsMalformed()
    {
        var verdict = TokenFixture.Verify("spg1_!!", TokenFixture.Request());
        Assert.Equal(TokenRejection.Malformed, verdict.Rejection);
        Assert.False(verdict.IsValid);
    }

    [Fact]
    public void Verify_RejectedVerdict_GrantsNothing()
    {
        var verdict = TokenFixture.Verify(TokenFixture.Typical(), TokenFixture.Request(holder: "vm-b"));
        Assert.Equal(Rights.None, verdict.EffectiveRights);
        Assert.Empty(verdict.OnceNonces);
    }

    [Fact]
    public void Verify_DefaultRequestPath_Throws()
    {
        var context = new VerifyContext(default, Rights.Read, TokenFixture.Now, "vm-a");
        Assert.Throws<ArgumentException>(() => TokenFixture.Verify(TokenFixture.Typical(), context));
    }

    [Fact]
    public void Caveats_TypedViews_ReadBackFactoryValues()
    {
        var nonce = OnceNonce.New();
        var caveats = new[]
        {
            Caveat.Path(TreePath.Parse("Documents/ä")),
            Caveat.OfRights(Rights.ReadWrite),
            Caveat.NotAfter(End),
            Caveat.NotBefore(TokenFixture.Now),
            Caveat.Holder("vm_1.test"),
            Caveat.Once(nonce),
            Caveat.NoDelegate(),
            Caveat.Label("für Anna 🎉"),
        };
        var decoded = CapabilityToken.Decode(TokenFixture.Mint(caveats).Encode()).Caveats;
        Assert.Equal(caveats, decoded);
        Assert.Equal(TreePath.Parse("Documents/ä"), decoded[0].AsPath());
        Assert.Equal(Rights.ReadWrite, decoded[1].AsRights());
        Assert.Equal(End, decoded[2].AsTime());
        Assert.Equal(TokenFixture.Now, decoded[3].AsTime());
        Assert.Equal("vm_1.test", decoded[4].AsText());
        Assert.Equal(nonce, decoded[5].AsOnceNonce());
        Assert.Equal(CaveatType.NoDelegate, decoded[6].Type);
        Assert.Equal("für Anna 🎉", decoded[7].AsText());
        Assert.Throws<InvalidOperationException>(() => decoded[0].AsRights());
    }

    [Fact]
    public void Caveat_Factories_RefuseInvalidValues()
    {
        Assert.Throws<ArgumentException>(() => Caveat.OfRights(Rights.None));
        Assert.Throws<ArgumentException>(() => Caveat.OfRights((Rights)0x80));
        Assert.Throws<ArgumentException>(() => Caveat.Holder("VM-A"));
        Assert.Throws<ArgumentException>(() => Caveat.Holder(""));
        Assert.Throws<ArgumentException>(() => Caveat.Holder("vm\u00e9"));
        Assert.Throws<ArgumentException>(() => Caveat.Label(""));
        Assert.Throws<ArgumentException>(() => Caveat.Label("line\nbreak"));
        Assert.Throws<ArgumentException>(() => Caveat.Label(new string('a', 257)));
        Assert.Throws<ArgumentException>(() => Caveat.Label(new string('ä', 129)));
        Assert.Throws<ArgumentException>(() => Caveat.Label("\ud800"));
        Assert.Throws<ArgumentException>(() => Caveat.Once(new byte[15]));
        Assert.Throws<ArgumentException>(() => Caveat.Path(default));
        Assert.Throws<ArgumentException>(() => Caveat.Path(TreePath.Parse(string.Join('/', Enumerable.Repeat("abcdefgh", 120)))));
        Assert.Throws<ArgumentException>(() => Caveat.Path(TreePath.Parse("a\ud800")));
    }

    private static TokenVerdict Verify(CapabilityToken token, string path, IRevocationLookup revoked) =>
        TokenFixture.Verify(token, TokenFixture.Request(path), revoked);
}
