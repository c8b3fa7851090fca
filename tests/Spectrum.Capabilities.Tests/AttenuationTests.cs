namespace Spectrum.Capabilities.Tests;

/// <summary>SECURITY-TESTS.md section B: attenuation can only narrow.</summary>
public class AttenuationTests
{
    [Fact]
    public void Verify_RightsAllAddedToReadOnlyToken_StaysReadOnly()
    {
        var token = TokenFixture.Typical().Attenuate(Caveat.OfRights(Rights.All));
        Assert.Equal(Rights.ReadOnly, TokenFixture.Verify(token, TokenFixture.Request()).EffectiveRights);
        Assert.Equal(TokenRejection.RightsNotCovered, TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Write)).Rejection);
    }

    [Fact]
    public void Verify_RightsCaveats_Intersect()
    {
        var token = TokenFixture.Mint(Caveat.OfRights(Rights.Read | Rights.Write | Rights.Grant)).Attenuate(Caveat.OfRights(Rights.Write | Rights.Delete));
        var verdict = TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Write));
        Assert.True(verdict.IsValid, verdict.Message);
        Assert.Equal(Rights.Write, verdict.EffectiveRights);
        Assert.Equal(TokenRejection.RightsNotCovered, TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Read)).Rejection);
    }

    [Fact]
    public void Verify_NoRightsCaveat_GivesAllForBrokerToIntersect()
    {
        var token = TokenFixture.Mint(Caveat.Path(TreePath.Parse("Documents")));
        Assert.Equal(Rights.All, TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.ReadWrite)).EffectiveRights);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("/")]
    [InlineData("/etc")]
    [InlineData("a/../../b")]
    [InlineData("a/./b")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("")]
    [InlineData("a\0b")]
    [InlineData("./a")]
    public void PathCaveat_EscapingPath_IsRejectedByFactoryAndOnTheWire(string path)
    {
        Assert.False(TreePath.TryParse(path, out _, out _));
        var caveats = new List<(byte, byte[])> { ((byte)CaveatType.Path, System.Text.Encoding.UTF8.GetBytes(path)) };
        Assert.False(Caveat.TryCreate(CaveatType.Path, System.Text.Encoding.UTF8.GetBytes(path), out _, out _));
        Assert.False(CapabilityToken.TryDecode(TokenFixture.CraftSigned(caveats), out _, out var error));
        Assert.StartsWith("token caveat 1: path caveat is malformed", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0xff })]
    [InlineData(new byte[] { 0xc0, 0xaf })] // overlong '/'
    [InlineData(new byte[] { 0x61, 0xed, 0xa0, 0x80 })] // UTF-8 encoded surrogate
    public void PathCaveat_InvalidUtf8_IsRejectedOnTheWire(byte[] value)
    {
        var caveats = new List<(byte, byte[])> { ((byte)CaveatType.Path, value) };
        Assert.False(CapabilityToken.TryDecode(TokenFixture.CraftSigned(caveats), out _, out _));
    }

    [Fact]
    public void PathCaveat_Root_IsAllowedAndCoversEverything()
    {
        var token = TokenFixture.Mint(Caveat.Path(TreePath.Root));
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request("Music/a.ogg")).IsValid);
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request(".")).IsValid);
    }

    [Fact]
    public void Verify_SiblingPathCaveats_GiveNeither()
    {
        var token = TokenFixture.Mint(Caveat.Path(TreePath.Parse("Documents"))).Attenuate(Caveat.Path(TreePath.Parse("Music")));
        Assert.Equal(TokenRejection.PathNotCovered, TokenFixture.Verify(token, TokenFixture.Request("Documents/a")).Rejection);
        Assert.Equal(TokenRejection.PathNotCovered, TokenFixture.Verify(token, TokenFixture.Request("Music/a")).Rejection);
        Assert.Equal(TokenRejection.PathNotCovered, TokenFixture.Verify(token, TokenFixture.Request(".")).Rejection);
    }

    [Theory]
    [InlineData("Documents", true)]
    [InlineData("Documents/a/b", true)]
    [InlineData("DocumentsX", false)]
    [InlineData("Documents2/a", false)]
    [InlineData("Docs", false)]
    [InlineData(".", false)]
    [InlineData("Other/Documents", false)]
    public void Verify_PathCaveat_CoversItsSubtreeOnly(string request, bool covered)
    {
        var verdict = TokenFixture.Verify(TokenFixture.Typical(), TokenFixture.Request(request));
        Assert.Equal(covered ? TokenRejection.None : TokenRejection.PathNotCovered, verdict.Rejection);
    }

    [Fact]
    public void Verify_NestedPathCaveat_Narrows()
    {
        var token = TokenFixture.Typical().Attenuate(Caveat.Path(TreePath.Parse("Documents/tax")));
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request("Documents/tax/2025.pdf")).IsValid);
        Assert.Equal(TokenRejection.PathNotCovered, TokenFixture.Verify(token, TokenFixture.Request("Documents/other")).Rejection);
    }

    [Fact]
    public void Verify_LaterNotAfter_DoesNotExtend()
    {
        var token = TokenFixture.Typical().Attenuate(Caveat.NotAfter(TokenFixture.Now.AddYears(10)));
        var verdict = TokenFixture.Verify(token, TokenFixture.Request());
        Assert.Equal(TokenFixture.Now.AddDays(1), verdict.NotAfter);
        Assert.Equal(TokenRejection.Expired, TokenFixture.Verify(token, TokenFixture.Request(now: TokenFixture.Now.AddDays(2))).Rejection);
    }

    [Fact]
    public void Verify_EarlierNotAfter_Narrows()
    {
        var token = TokenFixture.Typical().Attenuate(Caveat.NotAfter(TokenFixture.Now.AddHours(1)));
        Assert.Equal(TokenFixture.Now.AddHours(1), TokenFixture.Verify(token, TokenFixture.Request()).NotAfter);
        Assert.Equal(TokenRejection.Expired, TokenFixture.Verify(token, TokenFixture.Request(now: TokenFixture.Now.AddHours(2))).Rejection);
    }

    [Fact]
    public void Verify_HolderVmBAddedToVmAToken_FailsFromBoth()
    {
        var token = TokenFixture.Typical().Attenuate(Caveat.Holder("vm-b"));
        Assert.Equal(TokenRejection.WrongHolder, TokenFixture.Verify(token, TokenFixture.Request(holder: "vm-b")).Rejection);
        Assert.Equal(TokenRejection.WrongHolder, TokenFixture.Verify(token, TokenFixture.Request(holder: "vm-a")).Rejection);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("vm-b")]
    [InlineData("vm-aa")]
    [InlineData("vm-")]
    [InlineData("VM-A")]
    public void Verify_HolderCaveat_OnlyMatchesItsVm(string? holder) =>
        Assert.Equal(TokenRejection.WrongHolder, TokenFixture.Verify(TokenFixture.Typical(), TokenFixture.Request(holder: holder)).Rejection);

    [Fact]
    public void Verify_UnknownCaveatType_IsRejected()
    {
        var caveats = new List<(byte, byte[])> { ((byte)CaveatType.Rights, [0, 1]), (42, [1, 2, 3]) };
        Assert.False(CapabilityToken.TryDecode(TokenFixture.CraftSigned(caveats), out _, out var error));
        Assert.Equal("token has unknown caveat type 42; it was made by a newer broker or tampered with", error);
        var zero = new List<(byte, byte[])> { (0, []) };
        Assert.False(CapabilityToken.TryDecode(TokenFixture.CraftSigned(zero), out _, out _));
        Assert.False(Caveat.TryCreate((CaveatType)9, [], out _, out _));
    }

    public static TheoryData<byte, byte[]> MalformedValues => new()
    {
        { (byte)CaveatType.Rights, [] },
        { (byte)CaveatType.Rights, [0] },
        { (byte)CaveatType.Rights, [0, 0] },
        { (byte)CaveatType.Rights, [0, 0x80] },
        { (byte)CaveatType.Rights, [1, 0] },
        { (byte)CaveatType.Rights, [0, 1, 0] },
        { (byte)CaveatType.NotAfter, [0, 0, 0, 0] },
        { (byte)CaveatType.NotAfter, [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] },
        { (byte)CaveatType.NotBefore, [0x80, 0, 0, 0, 0, 0, 0, 0] },
        { (byte)CaveatType.Holder, [] },
        { (byte)CaveatType.Holder, "-vm"u8.ToArray() },
        { (byte)CaveatType.Holder, "VM"u8.ToArray() },
        { (byte)CaveatType.Holder, "vm a"u8.ToArray() },
        { (byte)CaveatType.Holder, "vm/a"u8.ToArray() },
        { (byte)CaveatType.Holder, new byte[65].Select(_ => (byte)'a').ToArray() },
        { (byte)CaveatType.Once, new byte[15] },
        { (byte)CaveatType.Once, new byte[17] },
        { (byte)CaveatType.NoDelegate, [0] },
        { (byte)CaveatType.Label, [] },
        { (byte)CaveatType.Label, "a\nb"u8.ToArray() },
        { (byte)CaveatType.Label, "a\u0085b"u8.ToArray() },
        { (byte)CaveatType.Label, "a\u202eb"u8.ToArray() },
        { (byte)CaveatType.Label, [0x61, 0xff] },
        { (byte)CaveatType.Label, new byte[257].Select(_ => (byte)'a').ToArray() },
    };

    [Theory]
    [MemberData(nameof(MalformedValues))]
    public void Decode_MalformedCaveatValue_IsRejected(byte type, byte[] value)
    {
        var caveats = new List<(byte, byte[])> { (type, value) };
        Assert.False(CapabilityToken.TryDecode(TokenFixture.CraftSigned(caveats), out _, out var error));
        Assert.StartsWith("token caveat 1: ", error, StringComparison.Ordinal);
        Assert.False(Caveat.TryCreate((CaveatType)type, value, out _, out _));
    }

    [Fact]
    public void Verify_NoCaveats_IsRejected()
    {
        var text = TokenFixture.CraftSigned([]);
        Assert.True(CapabilityToken.TryDecode(text, out var token, out _));
        Assert.Equal(TokenRejection.NoCaveats, TokenFixture.Verify(token, TokenFixture.Request()).Rejection);
        using var ring = TokenFixture.Ring();
        Assert.Throws<ArgumentException>(() => new TokenIssuer(ring).Mint(TokenFixture.Grant));
    }

    [Fact]
    public void Decode_ZeroGrantId_IsRejected()
    {
        var text = TokenFixture.CraftSigned([((byte)CaveatType.NoDelegate, [])], grant: GrantId.Empty);
        Assert.False(CapabilityToken.TryDecode(text, out _, out var error));
        Assert.Equal("token is not bound to a grant (its grant id is zero)", error);
        using var ring = TokenFixture.Ring();
        Assert.Throws<ArgumentException>(() => new TokenIssuer(ring).Mint(GrantId.Empty, Caveat.NoDelegate()));
    }

    [Fact]
    public void Verify_DelegatingWithoutGrantRight_IsRejected()
    {
        var token = TokenFixture.Mint(Caveat.Path(TreePath.Parse("Documents")), Caveat.OfRights(Rights.ReadWrite));
        var verdict = TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Read, delegating: true));
        Assert.Equal(TokenRejection.DelegationForbidden, verdict.Rejection);
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Read)).IsValid);
    }

    [Fact]
    public void Verify_DelegatingFromNoDelegateToken_IsRejected()
    {
        var token = TokenFixture.Mint(Caveat.OfRights(Rights.All)).Attenuate(Caveat.NoDelegate());
        Assert.Equal(TokenRejection.DelegationForbidden, TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Read, delegating: true)).Rejection);
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Read)).IsValid);
    }

    [Fact]
    public void Verify_DelegatingWithGrantRight_IsAccepted()
    {
        var token = TokenFixture.Mint(Caveat.OfRights(Rights.Read | Rights.Grant));
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request(rights: Rights.Read, delegating: true)).IsValid);
    }

    [Fact]
    public void Attenuate_InvalidCaveat_Throws()
    {
        Assert.Throws<ArgumentException>(() => TokenFixture.Typical().Attenuate(default(Caveat)));
        Assert.Throws<ArgumentException>(() => TokenFixture.Typical().Attenuate());
    }
}
