namespace Spectrum.Capabilities.Tests;

/// <summary>
/// Freezes the persisted formats: token bytes, caveat type bytes, rights bits and names. The
/// expected strings were computed independently (Python hmac/hashlib) from the format
/// description. If one of these fails, the format changed: add a new version instead.
/// </summary>
public class GoldenTests
{
    private const string GoldenToken =
        "spg1_AQAAAAcAASNFZ4mrze8ABgEAEURvY3VtZW50cy9yZXBvcnRzAgACAAMDAAgAAAAAcNvYgAUABHZtLWEGABAAESIzRFVmd4iZqrvM3e7_CAALZ29sZGVuIHRlc3S8djcHZB5DYQXCDe1Kas8k6tOUh_nYVWIdFEaBcRghhg";

    private const string GoldenSealedToken =
        "spg1_AQAAAAcBASNFZ4mrze8ABgEAEURvY3VtZW50cy9yZXBvcnRzAgACAAMDAAgAAAAAcNvYgAUABHZtLWEGABAAESIzRFVmd4iZqrvM3e7_CAALZ29sZGVuIHRlc3SBB1kjstK0cz5Ky8TD-978izJftYeF97G5Na15VCDQaw";

    private static readonly string[] GoldenRevocationIds =
    [
        "bab4b380796b127b496456173d40980b8ec84bd218fd541690290d88e9cf4570",
        "70bfa47e9080590b07338f4af0d4ef66dcd4b8bac2af3389b24b27c30dcf5756",
        "bba1c7ec1a153440a7216e280efe5c7c6909cd76e14ac41c94a9b6478af14158",
        "281d7d8308406b2777e47dc1b96138fffb80b37433b2e273a62a6dd1789cfa0a",
        "9f3797b20d286eed9365582945e1f0e18fe8b6af6ccc5a5b31edccce57008677",
        "5da9402f50e35d63ee0c311c8718e4e464731311916e27347023d12b50ab2369",
        "8bf561211bf086d5427a1a67eb34ad1690d7f51daffd7b640297d4ee440e4bc6",
    ];

    private const string GoldenSealRevocationId = "06a0b3c068909649baf245b44eb2b80908d8ce5c1c059c9bc17adc807dd02e83";

    private static readonly DateTimeOffset GoldenNotAfter = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static CapabilityToken MintGolden() => TokenFixture.Mint(
        Caveat.Path(TreePath.Parse("Documents/reports")),
        Caveat.OfRights(Rights.Read | Rights.Write),
        Caveat.NotAfter(GoldenNotAfter),
        Caveat.Holder("vm-a"),
        Caveat.Once(Convert.FromHexString("00112233445566778899aabbccddeeff")),
        Caveat.Label("golden test"));

    [Fact]
    public void Mint_FixedInputs_GivesFrozenText() => Assert.Equal(GoldenToken, MintGolden().Encode());

    [Fact]
    public void Seal_FixedInputs_GivesFrozenText() => Assert.Equal(GoldenSealedToken, MintGolden().Seal().Encode());

    [Fact]
    public void Verify_GoldenToken_ReportsFrozenRevocationIds()
    {
        var verdict = TokenFixture.Verify(GoldenToken, TokenFixture.Request("Documents/reports/q1.ods", Rights.Write));
        Assert.True(verdict.IsValid, verdict.Message);
        Assert.Equal(GoldenRevocationIds, verdict.RevocationIds.Select(id => id.ToString()));
        Assert.Equal(GoldenRevocationIds[^1], CapabilityToken.Decode(GoldenToken).LastRevocationId.ToString());
    }

    [Fact]
    public void Verify_GoldenSealedToken_AddsSealStepRevocationId()
    {
        var verdict = TokenFixture.Verify(GoldenSealedToken, TokenFixture.Request("Documents/reports", Rights.Read));
        Assert.True(verdict.IsValid, verdict.Message);
        Assert.Equal([.. GoldenRevocationIds, GoldenSealRevocationId], verdict.RevocationIds.Select(id => id.ToString()));
        Assert.Equal(GoldenSealRevocationId, CapabilityToken.Decode(GoldenSealedToken).LastRevocationId.ToString());
    }

    [Fact]
    public void Decode_GoldenToken_ReadsEveryField()
    {
        var token = CapabilityToken.Decode(GoldenToken);
        Assert.Equal(1, token.Version);
        Assert.Equal(7u, token.Epoch);
        Assert.Equal("g_0123456789abcdef", token.GrantId.ToString());
        Assert.False(token.IsSealed);
        Assert.Equal(
            [
                "path=Documents/reports",
                "rights=read,write",
                "not_after=2030-01-01T00:00:00Z",
                "holder=vm-a",
                "once=00112233445566778899aabbccddeeff",
                "label=\"golden test\"",
            ],
            token.Caveats.Select(c => c.ToString()));
    }

    [Fact]
    public void CaveatTypes_HaveFrozenByteValues()
    {
        Assert.Equal(
            [(1, "path"), (2, "rights"), (3, "not_after"), (4, "not_before"), (5, "holder"), (6, "once"), (7, "no_delegate"), (8, "label")],
            Enum.GetValues<CaveatType>().Select(t => ((int)t, CaveatRules.Name(t))));
    }

    [Fact]
    public void Rights_HaveFrozenBitsAndNames()
    {
        Assert.Equal(
            [(1, "read"), (2, "write"), (4, "create"), (8, "delete"), (16, "rename"), (32, "setattr"), (64, "grant")],
            RightsText.AllNames.Select(name => ((int)RightsText.Parse(name), name)));
        Assert.Equal(0x3f, (int)Rights.ReadWrite);
        Assert.Equal(0x7f, (int)Rights.All);
        Assert.Equal(Rights.Read, Rights.ReadOnly);
    }

    [Fact]
    public void TokenLimits_AreFrozen()
    {
        Assert.Equal("spg1_", TokenLimits.Prefix);
        Assert.Equal(8192, TokenLimits.MaxTokenTextLength);
        Assert.Equal(64, TokenLimits.MaxCaveats);
        Assert.Equal(1024, TokenLimits.MaxCaveatValueLength);
    }

    [Fact]
    public void Inspect_ShowsFieldsButNeverTheTag()
    {
        var token = CapabilityToken.Decode(GoldenToken);
        var text = token.Inspect() + token.ToString();
        Assert.Contains("g_0123456789abcdef", text, StringComparison.Ordinal);
        Assert.Contains("path=Documents/reports", text, StringComparison.Ordinal);
        Assert.Contains(GoldenRevocationIds[^1], text, StringComparison.Ordinal);
        var tag = TokenFixture.ToBinary(GoldenToken)[^32..];
        Assert.DoesNotContain(Convert.ToHexStringLower(tag), text, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(tag).TrimEnd('='), text, StringComparison.Ordinal);
        Assert.DoesNotContain("spg1_", text, StringComparison.Ordinal);
    }
}
