using System.Text;
using Spectrum.Broker.Portal.Wire;
using static Spectrum.Broker.Tests.Portal.PortalWireTests;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>Each limit holds exactly: the limit passes, one more is refused with the right code.</summary>
public sealed class PortalLimitsTests
{
    private static string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));

    private static string Nested(int arrays) => new string('[', arrays) + new string(']', arrays);

    [Fact]
    public void Line_AtLimit_Parses_OneMore_IsInvalidRequest()
    {
        var request = """{"jsonrpc":"2.0","id":1,"method":"OpenFile"}""";
        var atLimit = Encoding.UTF8.GetBytes(request.PadRight(PortalLimits.MaxLineBytes));
        Assert.Equal(PortalLimits.MaxLineBytes, atLimit.Length);
        Assert.IsType<ChooserRequest>(PortalWire.Parse(atLimit));

        var over = Encoding.UTF8.GetBytes(request.PadRight(PortalLimits.MaxLineBytes + 1));
        var error = Assert.IsType<PortalWireError>(PortalWire.Parse(over));
        Assert.Equal(PortalErrorCode.InvalidRequest, error.Code);
        Assert.Null(error.Id);
    }

    [Fact]
    public void Depth_AtLimit_IsRead_OneMore_IsParseError()
    {
        // The request object and params are two levels: six arrays make eight.
        var atLimit = Error(Request("OpenFile", $$"""{"title":{{Nested(PortalLimits.MaxDepth - 2)}}}"""), PortalErrorCode.InvalidParams);
        Assert.Contains("'title' must be a string", atLimit.Message, StringComparison.Ordinal);

        Error(Request("OpenFile", $$"""{"title":{{Nested(PortalLimits.MaxDepth - 1)}}}"""), PortalErrorCode.ParseError);
        Error(Request("OpenFile", $$"""{"title":{{Nested(10_000)}}}"""), PortalErrorCode.ParseError);
        Error(Nested(10_000), PortalErrorCode.ParseError);
        Error(Request("OpenFile", "{}") + Nested(10_000), PortalErrorCode.ParseError);
    }

    [Fact]
    public void Depth_DeepValueInAnUnknownMember_IsParseError_NotSkippedWithoutBound()
    {
        Error($$"""{"jsonrpc":"2.0","id":1,"method":"OpenFile","x":{{Nested(PortalLimits.MaxDepth)}}}""", PortalErrorCode.ParseError);
        Error($$"""{"jsonrpc":"2.0","id":1,"method":"OpenFile","x":{{Nested(PortalLimits.MaxDepth - 1)}}}""", PortalErrorCode.InvalidRequest);
    }

    [Theory]
    [InlineData("title", "")]
    [InlineData("accept_label", "")]
    [InlineData("current_name", "")]
    [InlineData("current_folder", "/")]
    [InlineData("current_file", "/")]
    public void String_AtLimit_Parses_OneMore_IsInvalidParams(string key, string prefix)
    {
        var atLimit = prefix + new string('a', PortalLimits.MaxStringBytes - prefix.Length);
        Options($$"""{"{{key}}":"{{atLimit}}"}""");
        var error = Error(Request("OpenFile", $$"""{"{{key}}":"{{atLimit}}a"}"""), PortalErrorCode.InvalidParams);
        Assert.Contains($"'{key}' is longer than {PortalLimits.MaxStringBytes} UTF-8 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void String_LimitCountsUnescapedUtf8Bytes()
    {
        // é is two UTF-8 bytes and six escaped ones: 2048 of them are exactly the limit.
        var e = Repeat("\\u00e9", PortalLimits.MaxStringBytes / 2);
        Assert.Equal(PortalLimits.MaxStringBytes, Encoding.UTF8.GetByteCount(Options($$"""{"title":"{{e}}"}""").Title!));
        Error(Request("OpenFile", $$"""{"title":"{{e}}a"}"""), PortalErrorCode.InvalidParams);
        var raw = Repeat("é", PortalLimits.MaxStringBytes / 2);
        Options($$"""{"title":"{{raw}}"}""");
        Error(Request("OpenFile", $$"""{"title":"{{raw}}a"}"""), PortalErrorCode.InvalidParams);
    }

    [Fact]
    public void String_LimitAppliesInsideFiltersChoicesAndFiles()
    {
        var max = new string('p', PortalLimits.MaxStringBytes);
        Options($$"""{"filters":[["n",[[0,"{{max}}"]]]]}""");
        Error(Request("OpenFile", $$"""{"filters":[["n",[[0,"{{max}}p"]]]]}"""), PortalErrorCode.InvalidParams);
        Options($$"""{"choices":[["c","l",[["{{max}}","x"]],"s"]]}""");
        Error(Request("OpenFile", $$"""{"choices":[["c","l",[["{{max}}p","x"]],"s"]]}"""), PortalErrorCode.InvalidParams);
        Options($$"""{"files":["{{max}}"]}""", "SaveFiles");
        Error(Request("SaveFiles", $$"""{"files":["{{max}}p"]}"""), PortalErrorCode.InvalidParams);
    }

    public static TheoryData<string, string, Func<int, string>> Arrays => new()
    {
        { "OpenFile", "'filters'", n => $$"""{"filters":[{{string.Join(",", Enumerable.Repeat("""["n",[[0,"*"]]]""", n))}}]}""" },
        { "OpenFile", "rules", n => $$"""{"filters":[["n",[{{string.Join(",", Enumerable.Repeat("""[1,"text/plain"]""", n))}}]]]}""" },
        { "OpenFile", "'current_filter' rules", n => $$"""{"current_filter":["n",[{{string.Join(",", Enumerable.Repeat("""[0,"*"]""", n))}}]]}""" },
        { "OpenFile", "'choices'", n => $$"""{"choices":[{{string.Join(",", Enumerable.Repeat("""["c","l",[],"s"]""", n))}}]}""" },
        { "OpenFile", "options", n => $$"""{"choices":[["c","l",[{{string.Join(",", Enumerable.Repeat("""["o","O"]""", n))}}],"s"]]}""" },
        { "SaveFiles", "'files'", n => $$"""{"files":[{{string.Join(",", Enumerable.Repeat("\"f\"", n))}}]}""" },
    };

    [Theory]
    [MemberData(nameof(Arrays))]
    public void Array_AtLimit_Parses_OneMore_IsInvalidParams(string method, string what, Func<int, string> @params)
    {
        Options(@params(PortalLimits.MaxArrayItems), method);
        var error = Error(Request(method, @params(PortalLimits.MaxArrayItems + 1)), PortalErrorCode.InvalidParams);
        Assert.Contains($"{what} has more than {PortalLimits.MaxArrayItems} items", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Array_Huge_IsRefusedWithinTheLine()
    {
        var huge = $$"""{"files":[{{string.Join(",", Enumerable.Repeat("\"f\"", 16_000))}}]}""";
        Error(Request("SaveFiles", huge), PortalErrorCode.InvalidParams);
    }

    [Fact]
    public void Id_AtLimit_IsEchoed_OneMore_IsInvalidRequest()
    {
        var atLimit = "\"" + new string('i', PortalLimits.MaxIdBytes - 2) + "\"";
        var request = Assert.IsType<ChooserRequest>(Parse(Request("OpenFile", "{}", atLimit)));
        Assert.Equal(atLimit, request.Id.Raw);

        var over = "\"" + new string('i', PortalLimits.MaxIdBytes - 1) + "\"";
        Assert.Null(Error(Request("OpenFile", "{}", over), PortalErrorCode.InvalidRequest).Id);
        Assert.Throws<ArgumentException>(() => JsonRpcId.FromString(new string('i', PortalLimits.MaxIdBytes - 1)));

        var close = Error(Request("Close", $$"""{"id":{{over}}}"""), PortalErrorCode.InvalidParams);
        Assert.Equal(JsonRpcId.FromNumber(1), close.Id);
    }

    [Fact]
    public void Id_Integers_FullInt64Range_BeyondIsRefused()
    {
        Assert.Equal(JsonRpcId.FromNumber(long.MinValue), Assert.IsType<ChooserRequest>(Parse(Request("OpenFile", "{}", long.MinValue.ToString(System.Globalization.CultureInfo.InvariantCulture)))).Id);
        Error(Request("OpenFile", "{}", "9223372036854775808"), PortalErrorCode.InvalidRequest);
    }
}
