using System.Text;
using Spectrum.Broker.Portal;
using Spectrum.Broker.Portal.Wire;

namespace Spectrum.Broker.Tests.Portal;

public sealed class PortalWireTests
{
    internal static PortalMessage Parse(string line) => PortalWire.Parse(Encoding.UTF8.GetBytes(line));

    internal static string Request(string method, string @params, string id = "1") =>
        $$"""{"jsonrpc":"2.0","id":{{id}},"method":"{{method}}","params":{{@params}}}""";

    internal static FileChooserOptions Options(string @params, string method = "OpenFile")
    {
        var message = Parse(Request(method, @params));
        var request = Assert.IsType<ChooserRequest>(message);
        return request.Options;
    }

    internal static PortalWireError Error(string line, int code)
    {
        var error = Assert.IsType<PortalWireError>(Parse(line));
        Assert.Equal(code, error.Code);
        Assert.DoesNotContain('\n', error.Message);
        return error;
    }

    [Fact]
    public void Parse_EveryOption_IsRead()
    {
        var options = Options("""
            {"title":"Open a report","accept_label":"_Open","modal":true,"multiple":false,"directory":false,
             "filters":[["Text",[[0,"*.txt"],[1,"text/plain"]]],["All",[[0,"*"]]]],
             "current_filter":["Text",[[0,"*.txt"]]],
             "choices":[["encoding","Encoding",[["utf8","UTF-8"],["latin1","Latin-1"]],"utf8"],["crlf","Windows line ends",[],"false"]],
             "current_name":"report.odt","current_folder":"/run/virtiofs/virtiofs0/Documents",
             "current_file":"/run/virtiofs/virtiofs0/Documents/report.odt"}
            """.ReplaceLineEndings(""));

        Assert.Equal("Open a report", options.Title);
        Assert.Equal("_Open", options.AcceptLabel);
        Assert.True(options.Modal);
        Assert.False(options.Multiple);
        Assert.False(options.Directory);
        Assert.Equal(2, options.Filters.Count);
        Assert.Equal("Text", options.Filters[0].Name);
        Assert.Equal([new FilterRule(0, "*.txt"), new FilterRule(1, "text/plain")], options.Filters[0].Rules);
        Assert.Equal([new FilterRule(0, "*")], options.Filters[1].Rules);
        Assert.Equal("Text", options.CurrentFilter!.Name);
        Assert.Equal([new FilterRule(0, "*.txt")], options.CurrentFilter.Rules);
        Assert.Equal(2, options.Choices.Count);
        Assert.Equal("encoding", options.Choices[0].Id);
        Assert.Equal("Encoding", options.Choices[0].Label);
        Assert.Equal([new ChoiceOption("utf8", "UTF-8"), new ChoiceOption("latin1", "Latin-1")], options.Choices[0].Options);
        Assert.Equal("utf8", options.Choices[0].Selected);
        Assert.Empty(options.Choices[1].Options);
        Assert.Equal("report.odt", options.CurrentName);
        Assert.Equal("/run/virtiofs/virtiofs0/Documents", options.CurrentFolder);
        Assert.Equal("/run/virtiofs/virtiofs0/Documents/report.odt", options.CurrentFile);
    }

    [Fact]
    public void Parse_SaveFilesWithFiles_ReadsNames()
    {
        var request = Assert.IsType<ChooserRequest>(Parse(Request("SaveFiles", """{"files":["a.txt","b.txt"],"current_folder":"/run/virtiofs/virtiofs0"}""")));
        Assert.Equal(FileChooserMethod.SaveFiles, request.Method);
        Assert.Equal(["a.txt", "b.txt"], request.Options.Files);
    }

    [Theory]
    [InlineData("OpenFile", FileChooserMethod.OpenFile)]
    [InlineData("SaveFile", FileChooserMethod.SaveFile)]
    [InlineData("SaveFiles", FileChooserMethod.SaveFiles)]
    public void Parse_EachMethod_NoParams_GivesEmptyOptions(string name, FileChooserMethod method)
    {
        var request = Assert.IsType<ChooserRequest>(Parse($$"""{"jsonrpc":"2.0","id":"r-1","method":"{{name}}"}"""));
        Assert.Equal(method, request.Method);
        Assert.Same(FileChooserOptions.Empty, request.Options);
        Assert.Equal("\"r-1\"", request.Id.Raw);
    }

    [Fact]
    public void Parse_MembersInAnyOrder_ParamsBeforeMethod()
    {
        var request = Assert.IsType<ChooserRequest>(Parse("""{"params":{"files":["x"]},"id":9,"method":"SaveFiles","jsonrpc":"2.0"}"""));
        Assert.Equal(["x"], request.Options.Files);
        Assert.Equal("9", request.Id.Raw);
    }

    [Fact]
    public void Parse_Close_ReadsTarget_EqualByValue()
    {
        var close = Assert.IsType<CloseRequest>(Parse("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":"\u0061b"}}"""));
        Assert.Equal("2", close.Id.Raw);
        Assert.Equal("\"\\u0061b\"", close.Target.Raw);
        Assert.Equal(JsonRpcId.FromString("ab"), close.Target);
        Assert.NotEqual(JsonRpcId.FromNumber(0), JsonRpcId.FromString(""));
        Assert.Equal(JsonRpcId.FromNumber(7), Assert.IsType<ChooserRequest>(Parse("""{"jsonrpc":"2.0","id":7,"method":"OpenFile"}""")).Id);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":2,"method":"Close"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":null}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":1,"id":2}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":1,"x":2}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":2,"method":"Close","params":[1]}""")]
    public void Parse_BadClose_IsInvalidParams(string line)
    {
        var error = Error(line, PortalErrorCode.InvalidParams);
        Assert.Equal(JsonRpcId.FromNumber(2), error.Id);
    }

    [Theory]
    [InlineData("{", PortalErrorCode.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\",}", PortalErrorCode.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\"} {}", PortalErrorCode.ParseError)]
    [InlineData("/* c */ {}", PortalErrorCode.ParseError)]
    [InlineData("   ", PortalErrorCode.ParseError)]
    [InlineData("nul", PortalErrorCode.ParseError)]
    [InlineData("[]", PortalErrorCode.InvalidRequest)]
    [InlineData("42", PortalErrorCode.InvalidRequest)]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"OpenFile"}]""", PortalErrorCode.InvalidRequest)]
    public void Parse_NotOneObject_GivesErrorWithNullId(string line, int code)
    {
        Assert.Null(Error(line, code).Id);
    }

    [Fact]
    public void Parse_SyntaxErrorAfterAValidId_IsStillAParseError()
    {
        Assert.Null(Error("""{"jsonrpc":"2.0","id":1,"method":"OpenFile","params":{"title":"x"}""", PortalErrorCode.ParseError).Id);
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","method":"OpenFile"}""", "notifications")]
    [InlineData("""{"jsonrpc":"2.0","id":null,"method":"OpenFile"}""", "'id'")]
    [InlineData("""{"jsonrpc":"2.0","id":1.5,"method":"OpenFile"}""", "'id'")]
    [InlineData("""{"jsonrpc":"2.0","id":1e3,"method":"OpenFile"}""", "'id'")]
    [InlineData("""{"jsonrpc":"2.0","id":[1],"method":"OpenFile"}""", "'id'")]
    [InlineData("""{"jsonrpc":"2.0","id":{"a":1},"method":"OpenFile"}""", "'id'")]
    [InlineData("""{"jsonrpc":"2.0","id":true,"method":"OpenFile"}""", "'id'")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"id":2,"method":"OpenFile"}""", "twice")]
    [InlineData("""{"jsonrpc":"2.0","id":"a\u0000","method":"OpenFile"}""", "'id'")]
    public void Parse_NoUsableId_IsInvalidRequestWithNullId(string line, string cause)
    {
        var error = Error(line, PortalErrorCode.InvalidRequest);
        Assert.Null(error.Id);
        Assert.Contains(cause, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"id":1,"method":"OpenFile"}""", "jsonrpc")]
    [InlineData("""{"jsonrpc":"1.0","id":1,"method":"OpenFile"}""", "\"2.0\"")]
    [InlineData("""{"jsonrpc":2.0,"id":1,"method":"OpenFile"}""", "\"2.0\"")]
    [InlineData("""{"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"OpenFile"}""", "twice")]
    [InlineData("""{"jsonrpc":"2.0","id":1}""", "'method'")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":7}""", "'method'")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"OpenFile","method":"OpenFile"}""", "twice")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"OpenFile","params":{},"params":{}}""", "twice")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"OpenFile","extra":0}""", "'extra'")]
    public void Parse_BadEnvelope_IsInvalidRequestEchoingTheId(string line, string cause)
    {
        var error = Error(line, PortalErrorCode.InvalidRequest);
        Assert.Equal(JsonRpcId.FromNumber(1), error.Id);
        Assert.Contains(cause, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownMethod_IsMethodNotFound_NamingItTruncated()
    {
        var error = Error(Request("Delete", "{}"), PortalErrorCode.MethodNotFound);
        Assert.Contains("'Delete'", error.Message, StringComparison.Ordinal);
        Assert.Equal(JsonRpcId.FromNumber(1), error.Id);

        var longName = new string('M', 5000);
        var truncated = Error(Request(longName, "{}"), PortalErrorCode.MethodNotFound);
        Assert.True(truncated.Message.Length < 300, truncated.Message);
        Assert.Contains("MMMM…'", truncated.Message, StringComparison.Ordinal);

        Error(Request("openfile", "{}"), PortalErrorCode.MethodNotFound);
    }

    [Theory]
    [InlineData("""{"colour":"red"}""", "unknown option 'colour'")]
    [InlineData("""{"title":"a","title":"b"}""", "'title' appears twice")]
    [InlineData("""{"title":1}""", "'title' must be a string")]
    [InlineData("""{"accept_label":null}""", "'accept_label' must be a string")]
    [InlineData("""{"modal":"yes"}""", "'modal' must be true or false")]
    [InlineData("""{"multiple":1}""", "'multiple' must be true or false")]
    [InlineData("""{"directory":null}""", "'directory' must be true or false")]
    [InlineData("""{"current_folder":"Documents"}""", "'current_folder' must be an absolute path")]
    [InlineData("""{"current_file":""}""", "'current_file' must be an absolute path")]
    [InlineData("""{"current_name":["a"]}""", "'current_name' must be a string")]
    [InlineData("""{"filters":{}}""", "'filters' must be an array")]
    [InlineData("""{"filters":[["Text"]]}""", "'filters' item 0 must be [name")]
    [InlineData("""{"filters":[["Text",[[2,"*"]]]]}""", "kind must be 0 (glob) or 1 (MIME type)")]
    [InlineData("""{"filters":[["Text",[[-1,"*"]]]]}""", "kind must be 0")]
    [InlineData("""{"filters":[["Text",[["0","*"]]]]}""", "kind must be 0")]
    [InlineData("""{"filters":[["Text",[[0,"*",1]]]]}""", "'filters' item 0 must be [name")]
    [InlineData("""{"filters":[["Text",[[0,"*"]],"x"]]}""", "'filters' item 0 must be [name")]
    [InlineData("""{"filters":[[1,[[0,"*"]]]]}""", "'filters' item 0 name must be a string")]
    [InlineData("""{"current_filter":"Text"}""", "'current_filter' must be [name")]
    [InlineData("""{"choices":[["a","A",[],"x","y"]]}""", "each of 'choices' must be")]
    [InlineData("""{"choices":[["a","A",[["o"]],"x"]]}""", "'choices' item 0 option 0 label must be a string")]
    [InlineData("""{"choices":[["a","A",[["o","O","x"]],"x"]]}""", "each of 'choices' must be")]
    [InlineData("""{"choices":[["a","A","o","x"]]}""", "options must be an array")]
    [InlineData("""{"choices":[["a","A",[]]]}""", "'choices' item 0 selected must be a string")]
    [InlineData("""{"files":["a"]}""", "'files' is only for SaveFiles")]
    public void Parse_BadOption_IsInvalidParamsNamingTheKey(string @params, string cause)
    {
        var error = Error(Request("OpenFile", @params), PortalErrorCode.InvalidParams);
        Assert.Contains(cause, error.Message, StringComparison.Ordinal);
        Assert.Equal(JsonRpcId.FromNumber(1), error.Id);
    }

    [Theory]
    [InlineData("""{"files":[""]}""")]
    [InlineData("""{"files":["."]}""")]
    [InlineData("""{"files":[".."]}""")]
    [InlineData("""{"files":["a/b"]}""")]
    [InlineData("""{"files":[1]}""")]
    [InlineData("""{"files":"a"}""")]
    public void Parse_SaveFilesBadName_IsInvalidParams(string @params)
    {
        Assert.Contains("'files'", Error(Request("SaveFiles", @params), PortalErrorCode.InvalidParams).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("\"title\"")]
    [InlineData("null")]
    public void Parse_ParamsNotAnObject_IsInvalidParams(string @params)
    {
        Error(Request("OpenFile", @params), PortalErrorCode.InvalidParams);
    }

    [Fact]
    public void Parse_NulInString_Escaped_IsInvalidParams()
    {
        Assert.Contains("NUL", Error(Request("OpenFile", """{"title":"a\u0000b"}"""), PortalErrorCode.InvalidParams).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RawNulOrControlInString_IsParseError()
    {
        var line = Encoding.UTF8.GetBytes(Request("OpenFile", """{"title":"a_b"}"""));
        line[Array.IndexOf(line, (byte)'_')] = 0;
        Assert.Equal(PortalErrorCode.ParseError, Assert.IsType<PortalWireError>(PortalWire.Parse(line)).Code);
    }

    [Theory]
    [InlineData(new byte[] { 0xff })]
    [InlineData(new byte[] { 0xc3 })]
    [InlineData(new byte[] { 0xed, 0xa0, 0x80 })]
    [InlineData(new byte[] { 0xc0, 0xaf })]
    public void Parse_InvalidUtf8InString_IsRefused(byte[] bad)
    {
        var head = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"OpenFile","params":{"title":"a""");
        var tail = Encoding.UTF8.GetBytes("\"}}");
        var error = Assert.IsType<PortalWireError>(PortalWire.Parse([.. head, .. bad, .. tail]));
        Assert.Contains(error.Code, new[] { PortalErrorCode.InvalidParams, PortalErrorCode.ParseError });
        if (error.Code == PortalErrorCode.InvalidParams)
        {
            Assert.Contains("UTF-8", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Parse_LoneSurrogateEscape_IsInvalidParams()
    {
        Assert.Contains("surrogate", Error(Request("OpenFile", """{"title":"\ud800x"}"""), PortalErrorCode.InvalidParams).Message, StringComparison.Ordinal);
        Assert.Equal("\U0001F600", Options("""{"title":"\ud83d\ude00"}""").Title);
    }

    [Fact]
    public void Parse_IdWithRawNonAsciiOrDel_IsRefused_EscapedIsEchoed()
    {
        // Found by the fuzzer: a raw DEL in the id was echoed into an otherwise all-ASCII reply.
        Assert.Null(Error("{\"jsonrpc\":\"2.0\",\"id\":\"s-\u007f\",\"method\":\"OpenFile\"}", PortalErrorCode.InvalidRequest).Id);
        Assert.Null(Error("""{"jsonrpc":"2.0","id":"é","method":"OpenFile"}""", PortalErrorCode.InvalidRequest).Id);
        var escaped = Assert.IsType<ChooserRequest>(Parse("""{"jsonrpc":"2.0","id":"\u00e9\u007f","method":"OpenFile"}"""));
        Assert.Equal(JsonRpcId.FromString("é\u007f"), escaped.Id);
        Assert.Equal(PortalErrorCode.InvalidParams, Error(Request("Close", "{\"id\":\"\u007f\"}"), PortalErrorCode.InvalidParams).Code);
    }

    [Fact]
    public void Parse_InvalidUtf8InKey_NamesItWithoutThrowing()
    {
        var head = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":1,"method":"OpenFile","params":{"k""");
        var tail = Encoding.UTF8.GetBytes("\":1}}");
        var message = PortalWire.Parse([.. head, 0xff, 0xfe, .. tail]);
        var error = Assert.IsType<PortalWireError>(message);
        Assert.True(PortalErrorCode.IsDefined(error.Code));
        Assert.NotEmpty(PortalWire.Error(error));
    }
}
