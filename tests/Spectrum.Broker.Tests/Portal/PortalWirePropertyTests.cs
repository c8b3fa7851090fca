using System.Text;
using FsCheck.Xunit;
using Spectrum.Broker.Portal.Wire;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>Whatever a VM sends, Parse answers: a request, or an error with a defined code that can be written back.</summary>
public sealed class PortalWirePropertyTests
{
    internal static readonly string[] Seeds =
    [
        """{"jsonrpc":"2.0","id":1,"method":"OpenFile","params":{"title":"t","multiple":true,"filters":[["Text",[[0,"*.txt"],[1,"text/plain"]]]],"current_filter":["Text",[[0,"*.txt"]]],"choices":[["c","C",[["a","A"]],"a"]],"current_folder":"/run/virtiofs/virtiofs0"}}""",
        """{"jsonrpc":"2.0","id":"s","method":"SaveFile","params":{"current_name":"a.odt","current_file":"/run/virtiofs/virtiofs0/a.odt","modal":false}}""",
        """{"jsonrpc":"2.0","id":3,"method":"SaveFiles","params":{"files":["a","b"],"accept_label":"\u00e9"}}""",
        """{"jsonrpc":"2.0","id":4,"method":"Close","params":{"id":1}}""",
    ];

    internal static bool Answers(PortalMessage message) => message switch
    {
        ChooserRequest request => PortalWire.Request(request).Length > 0,
        CloseRequest close => PortalWire.Request(close).Length > 0,
        PortalWireError error => PortalErrorCode.IsDefined(error.Code) && !error.Message.Contains('\n') && PortalWire.Error(error).Length > 0,
        _ => false,
    };

    [Property(MaxTest = 3000)]
    public bool RandomBytes_GiveARequestOrAnError(byte[] bytes) => Answers(PortalWire.Parse(bytes));

    [Property(MaxTest = 3000)]
    public bool MutatedRequests_GiveARequestOrAnError(byte seed, int[] positions, byte[] values)
    {
        var line = Encoding.UTF8.GetBytes(Seeds[seed % Seeds.Length]);
        for (var i = 0; i < Math.Min(positions.Length, values.Length); i++)
        {
            line[(int)((uint)positions[i] % (uint)line.Length)] = values[i];
        }

        return Answers(PortalWire.Parse(line));
    }

    [Property(MaxTest = 2000)]
    public bool RandomTextInsideAString_GivesARequestOrAnError(string text, byte seed)
    {
        var line = Seeds[seed % Seeds.Length].Replace("\"t\"", "\"" + text + "\"", StringComparison.Ordinal);
        return Answers(PortalWire.Parse(Encoding.UTF8.GetBytes(line)));
    }

    [Fact]
    public void Seeds_AreValidRequests()
    {
        foreach (var seed in Seeds)
        {
            Assert.IsNotType<PortalWireError>(PortalWire.Parse(Encoding.UTF8.GetBytes(seed)));
        }
    }
}
