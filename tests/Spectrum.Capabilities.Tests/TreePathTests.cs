using System.Text;
using FsCheck.Xunit;

namespace Spectrum.Capabilities.Tests;

public class TreePathTests
{
    [Theory]
    [InlineData(".")]
    [InlineData("a")]
    [InlineData("Documents/report.odt")]
    [InlineData("a/b/c")]
    [InlineData("...")]
    [InlineData(".hidden/x")]
    [InlineData("a b/ü")]
    public void TryParse_CanonicalPath_IsAccepted(string text)
    {
        Assert.True(TreePath.TryParse(text, out var path, out var error), error);
        Assert.Equal(text, path.Value.Value);
        Assert.Equal(text, path.Value.ToString());
    }

    [Theory]
    [InlineData(null, "empty")]
    [InlineData("", "empty")]
    [InlineData("/", "absolute")]
    [InlineData("/etc/passwd", "absolute")]
    [InlineData("..", "'..'")]
    [InlineData("a/../../b", "'..'")]
    [InlineData("a/./b", "'.'")]
    [InlineData("./a", "'.'")]
    [InlineData("a//b", "empty component")]
    [InlineData("a/", "empty component")]
    [InlineData("a\0b", "NUL")]
    public void TryParse_EscapeOrNonCanonical_IsRefusedWithReason(string? text, string reason)
    {
        Assert.False(TreePath.TryParse(text, out var path, out var error));
        Assert.Null(path);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_ComponentAndPathLengths_AreBounded()
    {
        Assert.True(TreePath.TryParse(new string('a', 255), out _, out _));
        Assert.False(TreePath.TryParse(new string('a', 256), out _, out _));
        var longPath = string.Join('/', Enumerable.Repeat(new string('a', 200), 21));
        Assert.False(TreePath.TryParse(longPath, out _, out var error));
        Assert.Contains("longer than 4095", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a", "a", true)]
    [InlineData("a/b", "a", true)]
    [InlineData("a/b/c", "a/b", true)]
    [InlineData("ab", "a", false)]
    [InlineData("a", "a/b", false)]
    [InlineData("b", "a", false)]
    [InlineData(".", "a", false)]
    [InlineData("a", ".", true)]
    [InlineData(".", ".", true)]
    public void IsWithin_ComparesWholeComponents(string path, string ancestor, bool within) =>
        Assert.Equal(within, TreePath.Parse(path).IsWithin(TreePath.Parse(ancestor)));

    [Fact]
    public void Parse_Invalid_ThrowsFormatException() => Assert.Throws<FormatException>(() => TreePath.Parse("../x"));

    [Fact]
    public void Root_IsDot()
    {
        Assert.True(TreePath.Root.IsRoot);
        Assert.Equal(".", TreePath.Root.Value);
    }

    [Property(MaxTest = 2000)]
    public bool WireRule_AgreesWithTreePathParse(string? text)
    {
        // The decoder validates path caveats on bytes; it must accept exactly what TreePath accepts.
        if (text is null || text.Any(char.IsSurrogate))
        {
            return true;
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        return CaveatRules.IsTreePath(bytes) == TreePath.TryParse(text, out _, out _);
    }

    [Property(MaxTest = 2000)]
    public bool WireRule_AgreesWithTreePathParse_OnPathShapedText(byte[] picks)
    {
        string[] pieces = ["a", "b", ".", "..", "/", "\0", "ä", "x.y", ""];
        var text = string.Concat(picks.Select(p => pieces[p % pieces.Length]));
        var bytes = Encoding.UTF8.GetBytes(text);
        return CaveatRules.IsTreePath(bytes) == TreePath.TryParse(text, out _, out _);
    }
}
