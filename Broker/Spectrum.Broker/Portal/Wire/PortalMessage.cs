using System.Text;
using System.Text.Json;

namespace Spectrum.Broker.Portal.Wire;

/// <summary>
/// A JSON-RPC id: an integer or a string (written in printable ASCII), kept as the raw JSON the VM sent (at most
/// <see cref="PortalLimits.MaxIdBytes"/>) so a reply echoes it byte for byte. Two ids are equal
/// when their values are (<c>"a"</c> and <c>"\u0061"</c> are one id), so the channel can key
/// pending requests by it and match a <c>Close</c> to its request.
/// </summary>
public sealed class JsonRpcId : IEquatable<JsonRpcId>
{
    private readonly string? _text;
    private readonly long _number;

    private JsonRpcId(string raw, string? text, long number)
    {
        Raw = raw;
        _text = text;
        _number = number;
    }

    /// <summary>The id exactly as sent: <c>7</c>, <c>"req-1"</c>.</summary>
    public string Raw { get; }

    public static JsonRpcId FromNumber(long value) => new(value.ToString(System.Globalization.CultureInfo.InvariantCulture), null, value);

    /// <exception cref="ArgumentException">The id's JSON would be longer than <see cref="PortalLimits.MaxIdBytes"/>.</exception>
    public static JsonRpcId FromString(string value)
    {
        var raw = JsonSerializer.Serialize(value);
        if (Encoding.UTF8.GetByteCount(raw) > PortalLimits.MaxIdBytes)
        {
            throw new ArgumentException($"a JSON-RPC id is at most {PortalLimits.MaxIdBytes} bytes of JSON", nameof(value));
        }

        return new(raw, value, 0);
    }

    internal static JsonRpcId FromWire(string raw, string? text, long number) => new(raw, text, number);

    public bool Equals(JsonRpcId? other) =>
        other is not null && _number == other._number && string.Equals(_text, other._text, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as JsonRpcId);

    public override int GetHashCode() => _text is null ? _number.GetHashCode() : StringComparer.Ordinal.GetHashCode(_text);

    public override string ToString() => Raw;
}

/// <summary>
/// What <see cref="PortalWire.Parse"/> made of one line: a <see cref="ChooserRequest"/>, a
/// <see cref="CloseRequest"/> or a <see cref="PortalWireError"/> to send back.
/// </summary>
public abstract record PortalMessage
{
    private protected PortalMessage()
    {
    }
}

/// <summary><c>OpenFile</c>, <c>SaveFile</c> or <c>SaveFiles</c>, with its options checked against <see cref="PortalLimits"/>.</summary>
public sealed record ChooserRequest(JsonRpcId Id, FileChooserMethod Method, FileChooserOptions Options) : PortalMessage;

/// <summary><c>Close</c>: the VM gives up on its pending request <paramref name="Target"/>.</summary>
public sealed record CloseRequest(JsonRpcId Id, JsonRpcId Target) : PortalMessage;

/// <summary>
/// A line that is not a request this channel serves: answer it with
/// <see cref="PortalWire.Error(PortalWireError)"/>.
/// <see cref="Id"/> is null when the line had no usable id (JSON-RPC answers those with <c>"id":null</c>).
/// </summary>
public sealed record PortalWireError(JsonRpcId? Id, int Code, string Message) : PortalMessage;

/// <summary>JSON-RPC 2.0 error codes: the spec's, and this channel's own (-32000 to -32099 are for servers).</summary>
public static class PortalErrorCode
{
    /// <summary>Not JSON, or nested deeper than <see cref="PortalLimits.MaxDepth"/>.</summary>
    public const int ParseError = -32700;

    /// <summary>JSON, but not a JSON-RPC 2.0 request (no id, wrong jsonrpc, line too long, …).</summary>
    public const int InvalidRequest = -32600;

    public const int MethodNotFound = -32601;

    /// <summary>An option is unknown, of the wrong type, or over a limit.</summary>
    public const int InvalidParams = -32602;

    /// <summary>The broker failed; not the VM's fault.</summary>
    public const int InternalError = -32603;

    /// <summary>The VM already has <see cref="PortalLimits.MaxPendingPerVm"/> requests waiting.</summary>
    public const int TooManyPending = -32000;

    /// <summary>The VM's token bucket is empty (<see cref="PortalLimits.RequestsPerSecond"/>).</summary>
    public const int RateLimited = -32001;

    /// <summary>A <c>Close</c> names no request pending on this channel.</summary>
    public const int NoSuchRequest = -32002;

    /// <summary>True for exactly the codes above.</summary>
    public static bool IsDefined(int code) => code is ParseError or InvalidRequest or MethodNotFound or InvalidParams
        or InternalError or TooManyPending or RateLimited or NoSuchRequest;
}
