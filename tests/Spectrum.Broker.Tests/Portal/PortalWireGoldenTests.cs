using System.Text;
using Spectrum.Broker.Portal;
using Spectrum.Broker.Portal.Wire;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>The reply bytes are the guest's contract: frozen here, changed only by adding.</summary>
public sealed class PortalWireGoldenTests
{
    private static string Text(byte[] line) => Encoding.UTF8.GetString(line);

    [Fact]
    public void Result_BytesAreFrozen()
    {
        var result = new FileChooserResult(
            PortalResponse.Success,
            ["file:///run/virtiofs/virtiofs0/Documents/a.odt", "file:///run/virtiofs/virtiofs0/Caf%C3%A9/b.txt"],
            true,
            [new ChoiceAnswer("encoding", "utf8")],
            new FileFilter("Text", [new FilterRule(0, "*.txt")]));

        Assert.Equal(
            """{"jsonrpc":"2.0","id":7,"result":{"response":0,"uris":["file:///run/virtiofs/virtiofs0/Documents/a.odt","file:///run/virtiofs/virtiofs0/Caf%C3%A9/b.txt"],"writable":true,"choices":[["encoding","utf8"]],"current_filter":["Text",[[0,"*.txt"]]]}}""" + "\n",
            Text(PortalWire.Result(JsonRpcId.FromNumber(7), result)));
    }

    [Fact]
    public void Result_Cancelled_OmitsCurrentFilter_AndEchoesTheRawIdAsSent()
    {
        var id = Assert.IsType<ChooserRequest>(PortalWireTests.Parse("""{"jsonrpc":"2.0","id":"\u0061-1","method":"OpenFile"}""")).Id;
        Assert.Equal(
            """{"jsonrpc":"2.0","id":"\u0061-1","result":{"response":1,"uris":[],"writable":false,"choices":[]}}""" + "\n",
            Text(PortalWire.Result(id, FileChooserResult.Cancelled)));
    }

    [Fact]
    public void Result_NonAsciiAndControlCharacters_AreEscaped_SoTheLineStaysOneLine()
    {
        var result = new FileChooserResult(0, ["file:///é\n+"], false, [], null);
        Assert.Equal(
            """{"jsonrpc":"2.0","id":1,"result":{"response":0,"uris":["file:///\u00E9\n\u002B"],"writable":false,"choices":[]}}""" + "\n",
            Text(PortalWire.Result(JsonRpcId.FromNumber(1), result)));
    }

    [Fact]
    public void CloseResult_BytesAreFrozen() =>
        Assert.Equal("""{"jsonrpc":"2.0","id":"c-1","result":{}}""" + "\n", Text(PortalWire.CloseResult(JsonRpcId.FromString("c-1"))));

    [Fact]
    public void Error_BytesAreFrozen()
    {
        Assert.Equal(
            """{"jsonrpc":"2.0","id":3,"error":{"code":-32001,"message":"rate limited; wait a second"}}""" + "\n",
            Text(PortalWire.Error(JsonRpcId.FromNumber(3), PortalErrorCode.RateLimited, "rate limited; wait a second")));
        Assert.Equal(
            """{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"line longer than 65536 bytes; send one request per line, under that size"}}""" + "\n",
            Text(PortalWire.Error(PortalWire.LineTooLongError)));
    }

    [Fact]
    public void ErrorCodes_AreFrozen()
    {
        Assert.Equal(
            [-32700, -32600, -32601, -32602, -32603, -32000, -32001, -32002],
            new[]
            {
                PortalErrorCode.ParseError, PortalErrorCode.InvalidRequest, PortalErrorCode.MethodNotFound, PortalErrorCode.InvalidParams,
                PortalErrorCode.InternalError, PortalErrorCode.TooManyPending, PortalErrorCode.RateLimited, PortalErrorCode.NoSuchRequest,
            });
        Assert.False(PortalErrorCode.IsDefined(-32099));
        Assert.False(PortalErrorCode.IsDefined(0));
    }

    [Fact]
    public void Request_CanonicalForm_RoundTrips()
    {
        var line = """{"params":{"files":["b","a"],"modal":false,"current_folder":"/run/virtiofs/virtiofs0","choices":[["c","C",[["o","O"]],"o"]]},"method":"SaveFiles","id":"x","jsonrpc":"2.0"}""";
        var request = Assert.IsType<ChooserRequest>(PortalWireTests.Parse(line));
        var canonical = PortalWire.Request(request);
        Assert.Equal(
            """{"jsonrpc":"2.0","id":"x","method":"SaveFiles","params":{"modal":false,"choices":[["c","C",[["o","O"]],"o"]],"current_folder":"/run/virtiofs/virtiofs0","files":["b","a"]}}""" + "\n",
            Text(canonical));
        var again = Assert.IsType<ChooserRequest>(PortalWire.Parse(canonical.AsSpan(0, canonical.Length - 1)));
        Assert.Equal(canonical, PortalWire.Request(again));

        var close = Assert.IsType<CloseRequest>(PortalWireTests.Parse("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":"x"}}"""));
        Assert.Equal("""{"jsonrpc":"2.0","id":2,"method":"Close","params":{"id":"x"}}""" + "\n", Text(PortalWire.Request(close)));
    }
}
