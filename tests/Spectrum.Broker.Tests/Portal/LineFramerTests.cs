using System.Text;
using FsCheck.Xunit;
using Spectrum.Broker.Portal.Wire;

namespace Spectrum.Broker.Tests.Portal;

public sealed class LineFramerTests
{
    /// <summary>Feeds the chunks in order; a line is "L:text", an overlong line "TooLong".</summary>
    internal static List<string> Frame(LineFramer framer, IEnumerable<byte[]> chunks)
    {
        var events = new List<string>();
        foreach (var chunk in chunks)
        {
            ReadOnlySpan<byte> input = chunk;
            LineStatus status;
            while ((status = framer.Read(ref input, out var line)) != LineStatus.NeedMoreData)
            {
                events.Add(status == LineStatus.Line ? "L:" + Convert.ToHexString(line) : "TooLong");
            }

            Assert.True(input.IsEmpty);
        }

        return events;
    }

    private static List<string> Frame(string text, int max = PortalLimits.MaxLineBytes) =>
        Frame(new LineFramer(max), [Encoding.UTF8.GetBytes(text)]);

    private static string L(string text) => "L:" + Convert.ToHexString(Encoding.UTF8.GetBytes(text));

    [Fact]
    public void Lines_AreSplit_CrTrimmed_EmptySkipped_PartialHeld()
    {
        var framer = new LineFramer();
        Assert.Equal([L("a"), L("b"), L("c\rd")], Frame(framer, [Encoding.UTF8.GetBytes("a\n\n\r\nb\r\nc\rd\nrest")]));
        Assert.Equal(4, framer.Buffered);
        Assert.Equal([L("rest!")], Frame(framer, [Encoding.UTF8.GetBytes("!\n")]));
        Assert.Equal(0, framer.Buffered);
    }

    [Fact]
    public void Line_AtLimit_Passes_OneMore_IsTooLong_ReportedOnce()
    {
        Assert.Equal([L("abcd")], Frame("abcd\n", 4));
        Assert.Equal(["TooLong", L("ok")], Frame("abcde\nok\n", 4));
        // A trailing \r counts toward the limit.
        Assert.Equal(["TooLong"], Frame("abcd\r\n", 4));
        Assert.Equal([L("abc")], Frame("abc\r\n", 4));
    }

    [Fact]
    public void Overlong_WithoutNewline_IsReportedOnce_AndMemoryStaysBounded()
    {
        var framer = new LineFramer(16);
        var chunk = new byte[1000];
        Array.Fill(chunk, (byte)'x');
        var events = Frame(framer, Enumerable.Repeat(chunk, 1000));
        Assert.Equal(["TooLong"], events);
        Assert.True(framer.Buffered <= 16);
        Assert.Equal([L("after")], Frame(framer, [Encoding.UTF8.GetBytes("xx\nafter\n")]));
    }

    [Fact]
    public void Overlong_AcrossChunks_AtTheNewline_IsTooLong()
    {
        var framer = new LineFramer(4);
        Assert.Equal(["TooLong", L("z")], Frame(framer, [Encoding.UTF8.GetBytes("abc"), Encoding.UTF8.GetBytes("de\nz\n")]));
    }

    /// <summary>The framer's contract spelled out plainly: split on \n, over-limit lines one TooLong, \r trimmed, empties skipped.</summary>
    private static List<string> Model(byte[] data, int max)
    {
        var events = new List<string>();
        var start = 0;
        for (var i = 0; i <= data.Length; i++)
        {
            if (i < data.Length && data[i] != (byte)'\n')
            {
                continue;
            }

            var line = data.AsSpan(start, i - start);
            if (i == data.Length)
            {
                if (line.Length > max)
                {
                    events.Add("TooLong");
                }

                break;
            }

            start = i + 1;
            if (line.Length > max)
            {
                events.Add("TooLong");
                continue;
            }

            if (line.Length > 0 && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (line.Length > 0)
            {
                events.Add("L:" + Convert.ToHexString(line));
            }
        }

        return events;
    }

    [Property(MaxTest = 500)]
    public bool AnySplit_YieldsTheSameLines_AsTheModel(byte[] raw, int[] cuts, byte maxByte)
    {
        // Bias the bytes so newlines and carriage returns are common.
        var data = raw.Select(b => (b % 5) switch { 0 => (byte)'\n', 1 => (byte)'\r', _ => b }).ToArray();
        var max = (maxByte % 12) + 1;
        var positions = cuts.Select(c => (int)((uint)c % (uint)(data.Length + 1))).Append(0).Append(data.Length).Distinct().Order().ToArray();
        var chunks = positions.Zip(positions.Skip(1), (a, b) => data[a..b]).ToList();

        var whole = Frame(new LineFramer(max), [data]);
        var split = Frame(new LineFramer(max), chunks);
        var bytewise = Frame(new LineFramer(max), data.Select(b => new[] { b }));
        var model = Model(data, max);
        return whole.SequenceEqual(model) && split.SequenceEqual(model) && bytewise.SequenceEqual(model);
    }
}
