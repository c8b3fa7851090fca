namespace Spectrum.Capabilities.Tests;

public class IdentifierTests
{
    [Fact]
    public void GrantId_New_IsRandomAndRoundTrips()
    {
        var a = GrantId.New();
        var b = GrantId.New();
        Assert.NotEqual(a, b);
        Assert.False(a.IsEmpty);
        Assert.Matches("^g_[0-9a-f]{16}$", a.ToString());
        Assert.Equal(a, GrantId.Parse(a.ToString()));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("g_")]
    [InlineData("g_0123456789ABCDEF")]
    [InlineData("G_0123456789abcdef")]
    [InlineData("g_0123456789abcde")]
    [InlineData("g_0123456789abcdef0")]
    [InlineData("g_0000000000000000")]
    [InlineData("g_+123456789abcdef")]
    [InlineData(" g_0123456789abcdef")]
    public void GrantId_TryParse_RefusesAnythingButCanonical(string? text) => Assert.False(GrantId.TryParse(text, out _));

    [Fact]
    public void GrantId_Empty_IsAllZero()
    {
        Assert.True(GrantId.Empty.IsEmpty);
        Assert.Equal("g_0000000000000000", GrantId.Empty.ToString());
        Assert.True(GrantId.FromBytes(new byte[8]).IsEmpty);
    }

    [Fact]
    public void RevocationId_RoundTripsThroughHex()
    {
        var bytes = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();
        var id = RevocationId.FromBytes(bytes);
        Assert.Equal(Convert.ToHexStringLower(bytes), id.ToString());
        Assert.Equal(id, RevocationId.Parse(id.ToString()));
        Assert.False(RevocationId.TryParse(id.ToString().ToUpperInvariant(), out _));
        Assert.False(RevocationId.TryParse(id.ToString()[1..], out _));
    }

    [Fact]
    public void RevocationSet_LooksUpBySpan()
    {
        var id = RevocationId.FromBytes(new byte[32]);
        var set = new RevocationSet();
        Assert.False(set.IsRevoked(new byte[32]));
        Assert.True(set.Add(id));
        Assert.True(set.IsRevoked(new byte[32]));
        Assert.False(set.IsRevoked(new byte[31]));
    }

    [Fact]
    public void OnceNonce_RoundTripsThroughHex()
    {
        var nonce = OnceNonce.New();
        Assert.True(OnceNonce.TryParse(nonce.ToString(), out var parsed));
        Assert.Equal(nonce, parsed);
    }
}
