using Spectrum.Capabilities;

namespace Spectrum.Policy.Tests;

public sealed class PathGlobTests
{
    [Theory]
    [InlineData("**", ".", true)]
    [InlineData("**", "a", true)]
    [InlineData("**", ".ssh/id_rsa", true)]
    [InlineData("Documents/**", "Documents", true)]
    [InlineData("Documents/**", "Documents/a/b/c.txt", true)]
    [InlineData("Documents/**", "Documentsx", false)]
    [InlineData("Documents/**", "documents/a", false)]
    [InlineData("Documents/**", ".", false)]
    [InlineData("**/*.pdf", "a.pdf", true)]
    [InlineData("**/*.pdf", "x/y/a.pdf", true)]
    [InlineData("**/*.pdf", "x/y/a.pdf/z", false)]
    [InlineData("a/**/b", "a/b", true)]
    [InlineData("a/**/b", "a/x/y/b", true)]
    [InlineData("a/**/b", "a/x/y/bc", false)]
    [InlineData("a/**/**/b", "a/b", true)]
    [InlineData("a/**/b/**", "a/b/b/b", true)]
    [InlineData("*", "a", true)]
    [InlineData("*", ".hidden", true)]
    [InlineData("*", "a/b", false)]
    [InlineData("*", ".", false)]
    [InlineData("*.txt", ".txt", true)]
    [InlineData("*.txt", "a.txt.bak", false)]
    [InlineData("a*b*c", "abc", true)]
    [InlineData("a*b*c", "aXbYbZc", true)]
    [InlineData("a*b*c", "aXbYbZ", false)]
    [InlineData("?", "a", true)]
    [InlineData("?", "ab", false)]
    [InlineData("?", "😀", true)]
    [InlineData("?.txt", "é.txt", true)]
    [InlineData("file?.txt", "file1.txt", true)]
    [InlineData("file?.txt", "file.txt", false)]
    [InlineData("Pictures/wallpaper.png", "Pictures/wallpaper.png", true)]
    [InlineData("Pictures/wallpaper.png", "Pictures/wallpaperXpng", false)]
    [InlineData("Pictures/wallpaper.png", "Pictures/wallpaper.png/x", false)]
    [InlineData(".ssh/**", ".ssh", true)]
    [InlineData(".ssh/**", "a/.ssh", false)]
    [InlineData("**/.ssh/**", "a/.ssh/x", true)]
    [InlineData("*/*", "a/b", true)]
    [InlineData("*/*", "a", false)]
    public void IsMatch_Cases(string pattern, string path, bool expected) =>
        Assert.Equal(expected, PathGlob.Parse(pattern).IsMatch(TreePath.Parse(path)));

    [Theory]
    [InlineData("", "empty")]
    [InlineData("/abs/**", "absolute")]
    [InlineData("a/../b", "'..'")]
    [InlineData("./a", "'.'")]
    [InlineData("a//b", "empty component")]
    [InlineData("a/", "empty component")]
    [InlineData("a**", "whole component")]
    [InlineData("**b/c", "whole component")]
    [InlineData("***", "whole component")]
    [InlineData("[ab]", "'['")]
    [InlineData("*.{a,b}", "'{'")]
    [InlineData("a\\*", "'\\'")]
    public void TryParse_BadPattern_Refused(string pattern, string reason)
    {
        Assert.False(PathGlob.TryParse(pattern, out var glob, out var error));
        Assert.Null(glob);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => PathGlob.Parse(pattern));
    }

    [Fact]
    public void TryParse_Null_Refused() => Assert.False(PathGlob.TryParse(null, out _, out _));

    [Fact]
    public void Equality_ByPattern()
    {
        Assert.Equal(PathGlob.Parse("a/**"), PathGlob.Parse("a/**"));
        Assert.NotEqual(PathGlob.Parse("a/**"), PathGlob.Parse("a/*"));
        Assert.Equal("a/**", PathGlob.Parse("a/**").ToString());
    }

    [Theory]
    [InlineData(".ssh/**", ".", true)]
    [InlineData(".ssh/**", ".ssh", true)]
    [InlineData(".ssh/**", ".ssh/keys", true)]
    [InlineData(".ssh/**", "Documents", false)]
    [InlineData("**/secret", "Documents", true)]
    [InlineData("a/b/c", "a", true)]
    [InlineData("a/b/c", "a/x", false)]
    [InlineData("a/b/c", "a/b/c/d", false)]
    public void CouldMatchAtOrBelow_Cases(string pattern, string directory, bool expected) =>
        Assert.Equal(expected, PathGlob.Parse(pattern).CouldMatchAtOrBelow(TreePath.Parse(directory)));

    [Fact]
    public void Permits_AllowMinusDeny()
    {
        var portal = new PortalPolicy
        {
            Allow = [PathGlob.Parse("**")],
            Deny = [PathGlob.Parse(".ssh/**"), PathGlob.Parse(".gnupg/**")],
        };

        Assert.True(portal.Permits(TreePath.Parse("Documents/a")));
        Assert.False(portal.Permits(TreePath.Parse(".ssh/id_ed25519")));
        Assert.False(portal.Permits(TreePath.Parse(".gnupg")));
        Assert.True(portal.PermitsSubtree(TreePath.Parse("Documents")));
        Assert.True(portal.Permits(TreePath.Root));
        Assert.False(portal.PermitsSubtree(TreePath.Root));
    }

    [Fact]
    public void Permits_NothingAllowedByDefault() =>
        Assert.False(PortalPolicy.Default.Permits(TreePath.Parse("a")));

    [Fact]
    public void IsMatch_ManyDoubleStars_StaysFast()
    {
        var glob = PathGlob.Parse(string.Join('/', Enumerable.Repeat("**", 40)) + "/x");
        var path = TreePath.Parse(string.Join('/', Enumerable.Repeat("a", 200)));

        Assert.False(glob.IsMatch(path));
    }
}
