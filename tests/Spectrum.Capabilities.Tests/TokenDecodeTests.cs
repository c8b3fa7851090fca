using FsCheck;
using FsCheck.Xunit;

namespace Spectrum.Capabilities.Tests;

/// <summary>The decoder: strictness, limits and fuzzing (SECURITY-TESTS.md A).</summary>
public class TokenDecodeTests
{
    private static readonly string Valid = TokenFixture.Typical().Encode();

    [Theory]
    [InlineData(null, "token is empty")]
    [InlineData("", "token is empty")]
    [InlineData("spg2_AAAA", "token is not a spg1_ token")]
    [InlineData("SPG1_AAAA", "token is not a spg1_ token")]
    [InlineData("spg1_", "token is truncated")]
    [InlineData("spg1_A", "token is truncated (its base64url length is impossible)")]
    [InlineData("spg1_AQ", "token is truncated")]
    [InlineData("spg1_Ag", "token has unsupported format version 2; it was made by a newer broker or it is not a token")]
    public void Decode_BadInput_GivesOneLineCause(string? text, string expected)
    {
        Assert.False(CapabilityToken.TryDecode(text, out var token, out var error));
        Assert.Null(token);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Decode_Valid_RoundTripsExactly()
    {
        Assert.True(CapabilityToken.TryDecode(Valid, out var token, out var error), error);
        Assert.Equal(Valid, token.Encode());
    }

    [Fact]
    public void Decode_Padding_IsRejected()
    {
        Assert.False(CapabilityToken.TryDecode(Valid + "=", out _, out var error));
        Assert.Equal("token has base64 padding; spg1_ tokens are written without '='", error);
        Assert.False(CapabilityToken.TryDecode(Valid + "==", out _, out _));
    }

    [Theory]
    [InlineData('+')]
    [InlineData('/')]
    [InlineData(' ')]
    [InlineData('\n')]
    [InlineData('\0')]
    [InlineData('é')]
    public void Decode_NonAlphabetCharacter_IsRejected(char bad)
    {
        var text = Valid[..20] + bad + Valid[21..];
        Assert.False(CapabilityToken.TryDecode(text, out _, out var error));
        Assert.Contains("base64url at position 20", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_NonCanonicalTrailingBits_IsRejected()
    {
        // Find a token whose base64url ends on a partial group, then set a stray low bit.
        var token = TokenFixture.Typical();
        for (var extra = 0; (Valid.Length - 5) % 4 == 0 && extra < 3; extra++)
        {
            token = token.Attenuate(Caveat.Label("x"));
        }

        var text = token.Encode();
        Assert.NotEqual(0, (text.Length - 5) % 4);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        var last = alphabet.IndexOf(text[^1], StringComparison.Ordinal);
        var mangled = text[..^1] + alphabet[last | 1];
        Assert.NotEqual(text, mangled);
        Assert.False(CapabilityToken.TryDecode(mangled, out _, out var error));
        Assert.Equal("token has non-canonical base64url trailing bits", error);
    }

    [Fact]
    public void Decode_OneMebibyteToken_IsRejectedBeforeBase64()
    {
        var huge = "spg1_" + new string('A', 1024 * 1024);
        Assert.False(CapabilityToken.TryDecode(huge, out _, out var error));
        Assert.StartsWith("token is longer than 8192 characters", error, StringComparison.Ordinal);
        // Not even valid base64url: the length check must come first.
        Assert.False(CapabilityToken.TryDecode("spg1_" + new string('!', 1024 * 1024), out _, out error));
        Assert.StartsWith("token is longer than 8192 characters", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_TenThousandCaveats_IsRejected()
    {
        var caveats = Enumerable.Repeat(((byte)CaveatType.NoDelegate, Array.Empty<byte>()), 10_000).ToList();
        // Each caveat is 3 bytes: the full token is ~40 KB of text, over the text limit.
        var full = TokenFixture.FromBinary(TokenFixture.Craft(TokenFixture.Epoch, 0, TokenFixture.Grant, caveats, count: 10_000));
        Assert.False(CapabilityToken.TryDecode(full, out _, out var error));
        Assert.StartsWith("token is longer than", error, StringComparison.Ordinal);
        // A small token that claims 10,000 caveats is refused at the count.
        var claims = TokenFixture.FromBinary(TokenFixture.Craft(TokenFixture.Epoch, 0, TokenFixture.Grant, caveats[..10], count: 10_000));
        Assert.False(CapabilityToken.TryDecode(claims, out _, out error));
        Assert.Equal("token has 10000 caveats; at most 64 are allowed", error);
    }

    [Fact]
    public void Decode_SixtyFiveCaveats_IsRejectedAndSixtyFourAccepted()
    {
        var caveats = Enumerable.Repeat(((byte)CaveatType.NoDelegate, Array.Empty<byte>()), 65).ToList();
        Assert.False(CapabilityToken.TryDecode(TokenFixture.CraftSigned(caveats), out _, out _));
        Assert.True(CapabilityToken.TryDecode(TokenFixture.CraftSigned(caveats[..64]), out var token, out var error), error);
        Assert.True(TokenFixture.Verify(token, TokenFixture.Request()).IsValid);
    }

    [Fact]
    public void Attenuate_BeyondSixtyFourCaveats_Throws()
    {
        var token = TokenFixture.Mint(Enumerable.Repeat(Caveat.NoDelegate(), 64).ToArray());
        Assert.Throws<ArgumentException>(() => token.Attenuate(Caveat.NoDelegate()));
    }

    [Fact]
    public void Attenuate_BeyondTextLimit_Throws()
    {
        var token = TokenFixture.Typical();
        var big = Caveat.Label(new string('x', 256));
        for (var i = 0; i < 21; i++)
        {
            token = token.Attenuate(big);
        }

        Assert.True(token.Encode().Length <= TokenLimits.MaxTokenTextLength);
        var error = Assert.Throws<ArgumentException>(() => token.Attenuate(big, big, big));
        Assert.Contains("longer than 8192", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_CaveatValueOver1024Bytes_IsRejected()
    {
        var caveats = new List<(byte, byte[])> { ((byte)CaveatType.Label, new byte[1025]) };
        Assert.False(CapabilityToken.TryDecode(TokenFixture.CraftSigned(caveats), out _, out var error));
        Assert.Equal("token caveat 1 (label) is longer than 1024 bytes", error);
    }

    [Fact]
    public void Decode_UnknownFlags_IsRejected()
    {
        var binary = TokenFixture.ToBinary(Valid);
        binary[5] = 0x02;
        Assert.False(CapabilityToken.TryDecode(TokenFixture.FromBinary(binary), out _, out var error));
        Assert.Equal("token has unknown flags 0x02; it was made by a newer broker or tampered with", error);
    }

    [Property(MaxTest = 2000)]
    public void Decode_RandomBytes_NeverThrows(byte[] bytes)
    {
        var text = TokenFixture.FromBinary(bytes);
        if (CapabilityToken.TryDecode(text, out var token, out _))
        {
            Assert.Equal(text, token.Encode());
        }
    }

    [Property(MaxTest = 2000)]
    public void Decode_RandomStrings_NeverThrows(string? text)
    {
        var ok = CapabilityToken.TryDecode(text, out var token, out var error);
        Assert.Equal(ok, token is not null);
        Assert.True(ok || error.Length > 0);
        Assert.DoesNotContain('\n', error);
        if (ok)
        {
            Assert.Equal(text, token!.Encode());
        }
    }

    [Property(MaxTest = 3000)]
    public void Decode_MutatedValidBinary_NeverThrowsAndAcceptsOnlyCanonical(NonNegativeInt position, byte value, bool insert, bool delete)
    {
        var binary = TokenFixture.ToBinary(Valid).ToList();
        var at = position.Get % binary.Count;
        if (delete)
        {
            binary.RemoveAt(at);
        }
        else if (insert)
        {
            binary.Insert(at, value);
        }
        else
        {
            binary[at] = value;
        }

        var text = TokenFixture.FromBinary([.. binary]);
        if (CapabilityToken.TryDecode(text, out var token, out _))
        {
            Assert.Equal(text, token.Encode());
            var again = CapabilityToken.Decode(token.Encode());
            Assert.Equal(token.Caveats, again.Caveats);
            // The MAC is checked over the exact bytes, so any accepted change is caught there.
            var verdict = TokenFixture.Verify(token, TokenFixture.Request());
            Assert.True(!verdict.IsValid || text == Valid);
        }
    }

    [Property(MaxTest = 3000)]
    public void Decode_MutatedValidText_AcceptsOnlyItsOwnEncoding(NonNegativeInt position, char c)
    {
        var at = TokenLimits.Prefix.Length + (position.Get % (Valid.Length - TokenLimits.Prefix.Length));
        var text = Valid[..at] + c + Valid[(at + 1)..];
        if (CapabilityToken.TryDecode(text, out var token, out _))
        {
            Assert.Equal(text, token.Encode());
        }
    }

    [Property(MaxTest = 500)]
    public void Decode_MintedTokenWithArbitraryLabels_RoundTrips(NonEmptyString label, PositiveInt extra)
    {
        var text = label.Get.Length > 200 ? label.Get[..200] : label.Get;
        if (!Caveat.TryCreate(CaveatType.Label, System.Text.Encoding.UTF8.GetBytes(text), out var caveat, out _)
            || !System.Text.Unicode.Utf8.IsValid(System.Text.Encoding.UTF8.GetBytes(text)))
        {
            return;
        }

        var token = TokenFixture.Typical().Attenuate(caveat, Caveat.NotAfter(TokenFixture.Now.AddSeconds(extra.Get)));
        var decoded = CapabilityToken.Decode(token.Encode());
        Assert.Equal(token.Encode(), decoded.Encode());
        Assert.Equal(token.Caveats, decoded.Caveats);
        Assert.True(TokenFixture.Verify(decoded, TokenFixture.Request()).IsValid);
    }
}
