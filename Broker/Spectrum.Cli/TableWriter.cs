namespace Spectrum.Cli;

/// <summary>
/// Left-aligned text columns separated by two spaces, with a header row; the last column is not
/// padded so that no line ends in whitespace. Empty and null cells print as <c>-</c>, so every row
/// has the same number of whitespace-separated fields for <c>awk</c>, unless a cell holds spaces.
/// </summary>
public sealed class TableWriter
{
    private const string Gap = "  ";
    private readonly string[] _headers;
    private readonly List<string[]> _rows = [];

    public TableWriter(params string[] headers) => _headers = headers;

    /// <summary>Number of data rows added.</summary>
    public int Count => _rows.Count;

    public void AddRow(params string?[] cells)
    {
        if (cells.Length != _headers.Length)
        {
            throw new ArgumentException($"expected {_headers.Length} cells, got {cells.Length}", nameof(cells));
        }

        _rows.Add(Array.ConvertAll(cells, c => string.IsNullOrEmpty(c) ? "-" : c));
    }

    public void Write(TextWriter output, bool header = true)
    {
        var widths = new int[_headers.Length];
        if (header)
        {
            for (var i = 0; i < widths.Length; i++)
            {
                widths[i] = _headers[i].Length;
            }
        }

        foreach (var row in _rows)
        {
            for (var i = 0; i < widths.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        if (header)
        {
            WriteRow(output, _headers, widths);
        }

        foreach (var row in _rows)
        {
            WriteRow(output, row, widths);
        }
    }

    private static void WriteRow(TextWriter output, string[] cells, int[] widths)
    {
        var line = new System.Text.StringBuilder();
        for (var i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                line.Append(Gap);
            }

            if (i == cells.Length - 1)
            {
                line.Append(cells[i]);
            }
            else
            {
                line.Append(cells[i].PadRight(widths[i]));
            }
        }

        output.WriteLine(line.ToString().TrimEnd());
    }
}
