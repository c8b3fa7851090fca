namespace Spectrum.Capabilities.Tests;

/// <summary>SECURITY-TESTS.md section A: token integrity.</summary>
public class TokenIntegrityTests
{
    [Fact]
    public void Verify_FreshToken_IsAccepted()
    {
        var verdict = TokenFixture.Verify(TokenFixture.Typical(), TokenFixture.Request());
        Assert.True(verdict.IsValid, verdict.Message);
        Assert.Equal(TokenRejection.None, verdict.Rejection);
        Assert.Equal(TokenFixture.Grant, verdict.GrantId);
        Assert.Equal(Rights.ReadOnly, verdict.EffectiveRights);
        Assert.Equal(TokenFixture.Now.AddDays(1), verdict.NotAfter);
        Assert.Equal(5, verdict.RevocationIds.Count);
    }

    [Fact]
    public void Verify_TokenFromOtherRootKey_IsRejected()
    {
        var otherKey = TokenKeyRing.GenerateRootKey();
        using var otherRing = TokenKeyRing.Create(TokenFixture.Epoch, otherKey);
        var token = new TokenIssuer(otherRing).Mint(TokenFixture.Grant, Caveat.OfRights(Rights.Read));
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(token, TokenFixture.Request()).Rejection);
    }

    [Fact]
    public void Verify_TokenFromOtherEpoch_IsRejectedAsUnknownEpoch()
    {
        using var otherRing = TokenKeyRing.Create(TokenFixture.Epoch + 1, TokenFixture.RootKey);
        var token = new TokenIssuer(otherRing).Mint(TokenFixture.Grant, Caveat.OfRights(Rights.Read));
        Assert.Equal(TokenRejection.UnknownEpoch, TokenFixture.Verify(token, TokenFixture.Request()).Rejection);
    }

    [Fact]
    public void Verify_EpochFieldChangedToAnotherKnownEpoch_IsRejected()
    {
        using var builder = new TokenKeyRing.Builder();
        using var ring = builder.Add(1, TokenKeyRing.GenerateRootKey()).Add(2, TokenKeyRing.GenerateRootKey()).Build(1);
        var binary = TokenFixture.ToBinary(new TokenIssuer(ring).Mint(TokenFixture.Grant, Caveat.OfRights(Rights.Read)).Encode());
        binary[4] = 2;
        var verdict = new TokenVerifier(ring).Verify(TokenFixture.FromBinary(binary), TokenFixture.Request(), TokenFixture.NothingRevoked);
        Assert.Equal(TokenRejection.BadTag, verdict.Rejection);
    }

    [Fact]
    public void Verify_RetiredEpoch_IsRejected()
    {
        var oldKey = TokenKeyRing.GenerateRootKey();
        using var oldRing = TokenKeyRing.Create(1, oldKey);
        var token = new TokenIssuer(oldRing).Mint(TokenFixture.Grant, Caveat.OfRights(Rights.Read));
        using var builder = new TokenKeyRing.Builder();
        using var rotated = builder.Add(2, TokenKeyRing.GenerateRootKey()).Build(2);
        Assert.Equal(TokenRejection.UnknownEpoch, new TokenVerifier(rotated).Verify(token, TokenFixture.Request(holder: null), TokenFixture.NothingRevoked).Rejection);
    }

    [Fact]
    public void Verify_EveryTagBitFlipInWholeBinary_IsRejected()
    {
        var token = TokenFixture.Mint(
            Caveat.Path(TreePath.Parse("Documents")),
            Caveat.OfRights(Rights.ReadWrite),
            Caveat.NotAfter(TokenFixture.Now.AddDays(1)),
            Caveat.NotBefore(TokenFixture.Now.AddDays(-1)),
            Caveat.Holder("vm-a"),
            Caveat.Once(new byte[16]),
            Caveat.Label("all the types"));
        var sealedToken = TokenFixture.Mint(Caveat.Path(TreePath.Parse("Documents")), Caveat.NoDelegate()).Seal();
        using var ring = TokenFixture.Ring();
        var verifier = new TokenVerifier(ring);
        var context = TokenFixture.Request();
        foreach (var original in new[] { token, sealedToken })
        {
            var binary = TokenFixture.ToBinary(original.Encode());
            Assert.True(verifier.Verify(original, context, TokenFixture.NothingRevoked).IsValid);
            var flips = 0;
            for (var bit = 0; bit < binary.Length * 8; bit++)
            {
                var mutated = (byte[])binary.Clone();
                mutated[bit / 8] ^= (byte)(1 << (bit % 8));
                var verdict = verifier.Verify(TokenFixture.FromBinary(mutated), context, TokenFixture.NothingRevoked);
                Assert.False(verdict.IsValid, $"flipping bit {bit} (byte {bit / 8}) was accepted");
                flips++;
            }

            Assert.Equal(binary.Length * 8, flips);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(31)]
    public void Decode_TruncatedTag_IsRejected(int cut)
    {
        var binary = TokenFixture.ToBinary(TokenFixture.Typical().Encode());
        Assert.False(CapabilityToken.TryDecode(TokenFixture.FromBinary(binary[..^cut]), out _, out var error));
        Assert.Contains("truncated", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(32)]
    public void Decode_OverlongTag_IsRejected(int extra)
    {
        var binary = TokenFixture.ToBinary(TokenFixture.Typical().Encode());
        Assert.False(CapabilityToken.TryDecode(TokenFixture.FromBinary([.. binary, .. new byte[extra]]), out _, out var error));
        Assert.Contains("after its tag", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_NoTagAtAll_IsRejected()
    {
        var binary = TokenFixture.ToBinary(TokenFixture.Typical().Encode());
        Assert.False(CapabilityToken.TryDecode(TokenFixture.FromBinary(binary[..^32]), out _, out _));
    }

    [Fact]
    public void Verify_CaveatAppendedWithoutRecomputingTag_IsRejected()
    {
        var token = TokenFixture.Mint(Caveat.OfRights(Rights.Read));
        var binary = TokenFixture.ToBinary(token.Encode());
        var tag = binary[^32..];
        var body = binary[..^32];
        body[15] = 2; // caveat count 1 -> 2
        byte[] extra = [(byte)CaveatType.Label, 0, 1, (byte)'x'];
        var forged = TokenFixture.FromBinary([.. body, .. extra, .. tag]);
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(forged, TokenFixture.Request(holder: null)).Rejection);
    }

    [Fact]
    public void Verify_ReorderedCaveats_IsRejected()
    {
        var token = TokenFixture.Mint(Caveat.Path(TreePath.Parse("Documents")), Caveat.OfRights(Rights.Read));
        var binary = TokenFixture.ToBinary(token.Encode());
        var path = binary[16..(16 + 3 + "Documents".Length)];
        var rights = binary[(16 + path.Length)..^32];
        Assert.Equal(5, rights.Length);
        var reordered = TokenFixture.FromBinary([.. binary[..16], .. rights, .. path, .. binary[^32..]]);
        Assert.True(CapabilityToken.TryDecode(reordered, out _, out _));
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(reordered, TokenFixture.Request(holder: null)).Rejection);
    }

    [Fact]
    public void Verify_StrippedCaveatWithOlderTagMissing_IsRejected()
    {
        // Only the last tag is serialized: dropping the last caveat and keeping the tag fails.
        var parent = TokenFixture.Mint(Caveat.Path(TreePath.Parse("Documents")));
        var child = parent.Attenuate(Caveat.OfRights(Rights.Read));
        var binary = TokenFixture.ToBinary(child.Encode());
        var stripped = binary[..16].Concat(binary[16..^(32 + 5)]).Concat(binary[^32..]).ToArray();
        stripped[15] = 1;
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(TokenFixture.FromBinary(stripped), TokenFixture.Request(holder: null)).Rejection);
    }

    [Fact]
    public void Verify_ChildCaveatsWithParentTag_IsRejected()
    {
        // Presenting an older tag (the parent's) with the child's caveats fails.
        var parent = TokenFixture.Mint(Caveat.Path(TreePath.Parse("Documents")));
        var child = parent.Attenuate(Caveat.OfRights(Rights.Read));
        var childBinary = TokenFixture.ToBinary(child.Encode());
        var parentTag = TokenFixture.ToBinary(parent.Encode())[^32..];
        parentTag.CopyTo(childBinary, childBinary.Length - 32);
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(TokenFixture.FromBinary(childBinary), TokenFixture.Request(holder: null)).Rejection);
    }

    [Fact]
    public void Attenuate_SealedToken_Throws()
    {
        var sealedToken = TokenFixture.Typical().Seal();
        var error = Assert.Throws<InvalidOperationException>(() => sealedToken.Attenuate(Caveat.OfRights(Rights.Read)));
        Assert.Contains("sealed", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => sealedToken.Seal());
    }

    [Fact]
    public void Verify_SealedToken_IsAccepted()
    {
        var sealedToken = TokenFixture.Typical().Seal();
        Assert.True(sealedToken.IsSealed);
        var roundTripped = CapabilityToken.Decode(sealedToken.Encode());
        Assert.True(roundTripped.IsSealed);
        Assert.True(TokenFixture.Verify(roundTripped, TokenFixture.Request()).IsValid);
    }

    [Fact]
    public void Verify_SealedTokenWithFlagCleared_IsRejected()
    {
        // Clearing the flag to attenuate again does not work: the unsealed tag is gone.
        var binary = TokenFixture.ToBinary(TokenFixture.Typical().Seal().Encode());
        binary[5] = 0;
        var unsealed = CapabilityToken.Decode(TokenFixture.FromBinary(binary));
        var extended = unsealed.Attenuate(Caveat.Label("more"));
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(unsealed, TokenFixture.Request()).Rejection);
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(extended, TokenFixture.Request()).Rejection);
    }

    [Fact]
    public void Verify_UnsealedTokenWithFlagSet_IsRejected()
    {
        var binary = TokenFixture.ToBinary(TokenFixture.Typical().Encode());
        binary[5] = 1;
        Assert.Equal(TokenRejection.BadTag, TokenFixture.Verify(TokenFixture.FromBinary(binary), TokenFixture.Request()).Rejection);
    }

    [Fact]
    public void Mint_NSecKeyPath_AgreesWithReferenceChain()
    {
        // The issuer computes tag0 with the NSec key imported into the ring; the reference chain
        // derives the key with the hand-written HMAC. They must agree.
        var token = TokenFixture.Typical();
        var binary = TokenFixture.ToBinary(token.Encode());
        var wires = new List<byte[]>();
        var position = 16;
        for (var i = 0; i < token.CaveatCount; i++)
        {
            var length = (binary[position + 1] << 8) | binary[position + 2];
            wires.Add(binary[position..(position + 3 + length)]);
            position += 3 + length;
        }

        var expected = MacaroonChain.Signature(TokenFixture.RootKey, binary[..14], wires);
        Assert.Equal(expected, binary[^32..]);
    }

    [Fact]
    public void Verify_DecodedTwice_GivesSameVerdict()
    {
        var text = TokenFixture.Typical().Encode();
        var first = TokenFixture.Verify(text, TokenFixture.Request());
        var second = TokenFixture.Verify(text, TokenFixture.Request());
        Assert.True(first.IsValid && second.IsValid);
        Assert.Equal(first.RevocationIds, second.RevocationIds);
    }

    [Fact]
    public void KeyRing_AfterDispose_Throws()
    {
        var ring = TokenFixture.Ring();
        var verifier = new TokenVerifier(ring);
        ring.Dispose();
        Assert.Throws<ObjectDisposedException>(() => verifier.Verify(TokenFixture.Typical(), TokenFixture.Request(), TokenFixture.NothingRevoked));
    }

    [Fact]
    public void KeyRing_WrongKeyLength_IsRefused()
    {
        using var builder = new TokenKeyRing.Builder();
        Assert.Throws<ArgumentException>(() => builder.Add(1, new byte[31]));
        Assert.Throws<ArgumentException>(() => builder.Add(1, new byte[33]));
        Assert.Throws<ArgumentException>(() => builder.Build(1));
    }
}
