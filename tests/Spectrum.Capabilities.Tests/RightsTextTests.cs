namespace Spectrum.Capabilities.Tests;

public class RightsTextTests
{
    [Theory]
    [InlineData("ro", Rights.Read)]
    [InlineData("rw", Rights.ReadWrite)]
    [InlineData("all", Rights.All)]
    [InlineData("read", Rights.Read)]
    [InlineData("read,write", Rights.Read | Rights.Write)]
    [InlineData(" read , grant ", Rights.Read | Rights.Grant)]
    [InlineData("rw,grant", Rights.All)]
    [InlineData("create,delete,rename,setattr", Rights.Create | Rights.Delete | Rights.Rename | Rights.SetAttr)]
    public void Parse_KnownNamesAndPresets_Combine(string text, Rights expected) => Assert.Equal(expected, RightsText.Parse(text));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("Read")]
    [InlineData("read,,write")]
    [InlineData("chown")]
    [InlineData("read;write")]
    public void TryParse_UnknownOrEmpty_IsRefusedWithHint(string? text)
    {
        Assert.False(RightsText.TryParse(text, out var rights, out var error));
        Assert.Equal(Rights.None, rights);
        Assert.Contains("read, write, create, delete, rename, setattr, grant", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Rights.None, "none")]
    [InlineData(Rights.Read, "ro")]
    [InlineData(Rights.ReadWrite, "rw")]
    [InlineData(Rights.All, "rw,grant")]
    [InlineData(Rights.Read | Rights.Write, "read,write")]
    [InlineData(Rights.Grant | Rights.Read, "read,grant")]
    [InlineData(Rights.Delete, "delete")]
    public void Format_GivesCanonicalText(Rights rights, string expected) => Assert.Equal(expected, RightsText.Format(rights));

    [Fact]
    public void Format_ThenParse_RoundTripsEveryCombination()
    {
        for (var bits = 1; bits <= (int)Rights.All; bits++)
        {
            Assert.Equal((Rights)bits, RightsText.Parse(RightsText.Format((Rights)bits)));
        }
    }

    [Fact]
    public void ToNames_ListsCanonicalOrder() =>
        Assert.Equal(["read", "write", "grant"], RightsText.ToNames(Rights.Grant | Rights.Write | Rights.Read));
}
