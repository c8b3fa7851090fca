using Spectrum.Cli;

namespace Spectrum.Grant.Tests;

public class TableWriterTests
{
    [Fact]
    public void Write_PadsColumnsToWidestCellWithTwoSpaces()
    {
        var table = new TableWriter("ID", "VM", "PATH");
        table.AddRow("g_1", "editor", "Documents/Work");
        table.AddRow("g_22222", "mail", ".");
        using var output = new StringWriter();
        table.Write(output);
        Assert.Equal(
            "ID       VM      PATH\n" +
            "g_1      editor  Documents/Work\n" +
            "g_22222  mail    .\n",
            output.ToString());
    }

    [Fact]
    public void Write_EmptyCellsPrintAsDashAndLinesHaveNoTrailingSpace()
    {
        var table = new TableWriter("A", "B", "C");
        table.AddRow("x", null, "");
        table.AddRow("longer", "y", "z");
        using var output = new StringWriter();
        table.Write(output);
        var lines = output.ToString().TrimEnd('\n').Split('\n');
        Assert.Equal("x       -  -", lines[1]);
        Assert.All(lines, l => Assert.Equal(l.TrimEnd(), l));
        Assert.Equal(lines[0].IndexOf('B', StringComparison.Ordinal), lines[2].IndexOf('y', StringComparison.Ordinal));
    }

    [Fact]
    public void Write_WithoutHeader_AlignsOnValues()
    {
        var table = new TableWriter("K", "V");
        table.AddRow("id:", "g_1");
        table.AddRow("persistence:", "session");
        using var output = new StringWriter();
        table.Write(output, header: false);
        Assert.Equal("id:           g_1\npersistence:  session\n", output.ToString());
    }

    [Fact]
    public void AddRow_WrongCellCount_Throws() =>
        Assert.Throws<ArgumentException>(() => new TableWriter("A", "B").AddRow("only one"));
}

public class TextTests
{
    private static readonly DateTimeOffset Now = new(2025, 1, 31, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(28_740, "in 7h59m")]
    [InlineData(3600, "in 1h")]
    [InlineData(90, "in 1m30s")]
    [InlineData(45, "in 45s")]
    [InlineData(2 * 86400 + 3 * 3600 + 59, "in 2d3h")]
    [InlineData(-180, "3m ago")]
    [InlineData(0, "now")]
    public void Relative_TwoLargestUnits(int seconds, string expected) =>
        Assert.Equal(expected, Text.Relative(Now.AddSeconds(seconds), Now));

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(59.9, "59s")]
    [InlineData(180, "3m")]
    [InlineData(3 * 3600 + 5 * 60 + 7, "3h5m")]
    [InlineData(-90, "1m30s")]
    public void Span_TwoLargestUnitsWithoutDirection(double seconds, string expected) =>
        Assert.Equal(expected, Text.Span(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public void Time_IsUtcWhateverTheOffset() =>
        Assert.Equal("2025-01-31 12:00:00Z", Text.Time(new DateTimeOffset(2025, 1, 31, 14, 0, 0, TimeSpan.FromHours(2))));

    [Fact]
    public void Expiry_NullIsNever() => Assert.Equal("never", Text.Expiry(null, Now));
}
