namespace Spectrum.Capabilities.Tests;

public class DurationTextTests
{
    [Theory]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("8h", 28800)]
    [InlineData("1h30m", 5400)]
    [InlineData("2d", 172800)]
    [InlineData("1w", 604800)]
    [InlineData("1d1s", 86401)]
    public void Parse_UnitPairs_AddUp(string text, int seconds) => Assert.Equal(TimeSpan.FromSeconds(seconds), DurationText.Parse(text));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("h")]
    [InlineData("5x")]
    [InlineData("-5m")]
    [InlineData("1.5h")]
    [InlineData("5 m")]
    [InlineData("1234567890s")]
    public void TryParse_Malformed_IsRefused(string? text)
    {
        Assert.False(DurationText.TryParse(text, out var duration, out var error));
        Assert.Equal(TimeSpan.Zero, duration);
        Assert.Contains("90s, 30m, 8h", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_Zero_IsRefused()
    {
        Assert.False(DurationText.TryParse("0s", out _, out var error));
        Assert.Contains("zero", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_OverTenYears_IsRefused()
    {
        Assert.True(DurationText.TryParse("3653d", out _, out _));
        Assert.False(DurationText.TryParse("3654d", out _, out var error));
        Assert.Contains("ten years", error, StringComparison.Ordinal);
        Assert.False(DurationText.TryParse("999999999w", out _, out _));
    }

    [Theory]
    [InlineData(90, "1m30s")]
    [InlineData(5400, "1h30m")]
    [InlineData(86400, "1d")]
    [InlineData(0, "0s")]
    [InlineData(-5, "0s")]
    public void Format_UsesLargestUnits(int seconds, string expected) => Assert.Equal(expected, DurationText.Format(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Format_ThenParse_RoundTrips()
    {
        foreach (var seconds in new[] { 1, 59, 61, 3599, 3601, 86399, 90061, 604800 * 3 })
        {
            Assert.Equal(TimeSpan.FromSeconds(seconds), DurationText.Parse(DurationText.Format(TimeSpan.FromSeconds(seconds))));
        }
    }
}
