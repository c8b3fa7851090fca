using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Spectrum.Broker.Portal.Wire;

/// <summary>
/// The portal channel's wire format, newline-delimited JSON-RPC 2.0, read and written without
/// I/O. <see cref="Parse"/> never throws: any line gives a request or an error to answer.
/// </summary>
public static partial class PortalWire
{
    internal static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = PortalLimits.MaxDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    private const int ShownBytes = 64;

    /// <summary>
    /// Reads one line (without its newline). Two passes over the span: the first checks the
    /// whole line is one JSON object within the depth limit and finds the id, method and params
    /// wherever they are; the second reads the params knowing the method, so every error after
    /// the first pass can echo the id.
    /// </summary>
    public static PortalMessage Parse(ReadOnlySpan<byte> line)
    {
        if (line.Length > PortalLimits.MaxLineBytes)
        {
            return LineTooLongError;
        }

        Envelope envelope;
        try
        {
            envelope = ReadEnvelope(line);
        }
        catch (JsonException e)
        {
            return new PortalWireError(null, PortalErrorCode.ParseError,
                $"malformed JSON at byte {e.BytePositionInLine ?? 0} ({FirstSentence(e.Message)}); send one JSON-RPC 2.0 object per line, at most {PortalLimits.MaxDepth} levels deep");
        }

        if (envelope.Error is { } error)
        {
            return error;
        }

        var id = envelope.Id!;
        var paramsJson = envelope.ParamsLength < 0
            ? ReadOnlySpan<byte>.Empty
            : line.Slice(envelope.ParamsStart, envelope.ParamsLength);
        var reader = new OptionsReader(paramsJson);
        try
        {
            if (envelope.Method is null)
            {
                return reader.ReadClose(id, paramsJson.IsEmpty);
            }

            return reader.ReadOptions(id, envelope.Method.Value, paramsJson.IsEmpty);
        }
        catch (JsonException e)
        {
            // The first pass read the same bytes with the same options; kept so Parse never throws.
            return new PortalWireError(id, PortalErrorCode.ParseError, $"malformed JSON in 'params' ({FirstSentence(e.Message)})");
        }
    }

    /// <summary>The error for a line over <see cref="PortalLimits.MaxLineBytes"/> (also what <see cref="LineStatus.TooLong"/> should be answered with).</summary>
    public static PortalWireError LineTooLongError { get; } = new(null, PortalErrorCode.InvalidRequest,
        $"line longer than {PortalLimits.MaxLineBytes} bytes; send one request per line, under that size");

    private sealed class Envelope
    {
        public JsonRpcId? Id;
        public FileChooserMethod? Method;
        public int ParamsStart;
        public int ParamsLength = -1;
        public PortalWireError? Error;
    }

    [Flags]
    private enum Member
    {
        None = 0,
        JsonRpc = 1,
        Id = 2,
        Method = 4,
        Params = 8,
    }

    private static Envelope ReadEnvelope(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line, ReaderOptions);
        var result = new Envelope();
        if (!reader.Read())
        {
            throw new JsonException("the line holds no JSON value");
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            EnsureEnd(ref reader);
            result.Error = new PortalWireError(null, PortalErrorCode.InvalidRequest,
                "a request must be one JSON object {\"jsonrpc\":\"2.0\",\"id\":…,\"method\":…,\"params\":{…}}; batches are not served");
            return result;
        }

        var seen = Member.None;
        var idBroken = false;
        var idTwice = false;
        var methodClose = false;
        string? firstProblem = null;
        var firstProblemCode = PortalErrorCode.InvalidRequest;
        void Problem(string message, int code = PortalErrorCode.InvalidRequest)
        {
            if (firstProblem is null)
            {
                firstProblem = message;
                firstProblemCode = code;
            }
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.ValueTextEquals("jsonrpc"u8) ? Member.JsonRpc
                : reader.ValueTextEquals("id"u8) ? Member.Id
                : reader.ValueTextEquals("method"u8) ? Member.Method
                : reader.ValueTextEquals("params"u8) ? Member.Params
                : Member.None;
            var name = member == Member.None ? Shown(ref reader) : null;
            reader.Read();
            if (member != Member.None && (seen & member) != 0)
            {
                Problem($"member '{member.ToString().ToLowerInvariant()}' appears twice; send each member once");
                idTwice |= member == Member.Id;

                reader.Skip();
                continue;
            }

            seen |= member;
            switch (member)
            {
                case Member.JsonRpc:
                    if (reader.TokenType != JsonTokenType.String || !reader.ValueTextEquals("2.0"u8))
                    {
                        Problem("'jsonrpc' must be \"2.0\"");
                    }

                    break;
                case Member.Id:
                    result.Id = ReadId(ref reader);
                    idBroken |= result.Id is null;
                    break;
                case Member.Method:
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        Problem("'method' must be a string: OpenFile, SaveFile, SaveFiles or Close");
                        break;
                    }

                    if (reader.ValueTextEquals("OpenFile"u8))
                    {
                        result.Method = FileChooserMethod.OpenFile;
                    }
                    else if (reader.ValueTextEquals("SaveFile"u8))
                    {
                        result.Method = FileChooserMethod.SaveFile;
                    }
                    else if (reader.ValueTextEquals("SaveFiles"u8))
                    {
                        result.Method = FileChooserMethod.SaveFiles;
                    }
                    else if (reader.ValueTextEquals("Close"u8))
                    {
                        methodClose = true;
                    }
                    else
                    {
                        Problem($"method '{Shown(ref reader)}' not found; the methods are OpenFile, SaveFile, SaveFiles and Close", PortalErrorCode.MethodNotFound);
                    }

                    break;
                case Member.Params:
                    result.ParamsStart = checked((int)reader.TokenStartIndex);
                    reader.Skip();
                    result.ParamsLength = checked((int)reader.BytesConsumed) - result.ParamsStart;
                    break;
                default:
                    Problem($"unknown member '{name}'; a request has only jsonrpc, id, method and params");
                    reader.Skip();
                    break;
            }
        }

        EnsureEnd(ref reader);

        if (idBroken || idTwice || (seen & Member.Id) == 0)
        {
            result.Id = null;
            result.Error = new PortalWireError(null, PortalErrorCode.InvalidRequest,
                (seen & Member.Id) == 0 ? "no 'id': notifications are not served; give every request an 'id' (a string or an integer)"
                : idTwice ? "member 'id' appears twice; send one 'id'"
                : $"'id' must be an integer or a string of printable ASCII (\\u escapes for the rest), at most {PortalLimits.MaxIdBytes} bytes of JSON");
            return result;
        }

        if (firstProblem is null && (seen & Member.JsonRpc) == 0)
        {
            Problem("no 'jsonrpc'; add \"jsonrpc\":\"2.0\"");
        }

        if (firstProblem is null && (seen & Member.Method) == 0)
        {
            Problem("no 'method'; add \"method\": OpenFile, SaveFile, SaveFiles or Close");
        }

        if (firstProblem is not null)
        {
            result.Error = new PortalWireError(result.Id, firstProblemCode, firstProblem);
        }
        else if (result.Method is null && !methodClose)
        {
            result.Error = new PortalWireError(result.Id, PortalErrorCode.InvalidRequest, "no 'method'; add \"method\": OpenFile, SaveFile, SaveFiles or Close");
        }

        return result;
    }

    /// <summary>Past the root value only whitespace may follow (the reader itself throws on a second value).</summary>
    private static void EnsureEnd(ref Utf8JsonReader reader)
    {
        if (reader.Read())
        {
            throw new JsonException("more than one JSON value on the line");
        }
    }

    /// <summary>An integer, or a string written in printable ASCII, within <see cref="PortalLimits.MaxIdBytes"/>; or null (the value is skipped).</summary>
    internal static JsonRpcId? ReadId(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                if (reader.ValueSpan.Length > PortalLimits.MaxIdBytes || !reader.TryGetInt64(out var number))
                {
                    return null;
                }

                return JsonRpcId.FromWire(Encoding.UTF8.GetString(reader.ValueSpan), null, number);
            case JsonTokenType.String:
                // Printable ASCII only (escapes may say anything): the id is echoed raw, so this keeps
                // every reply ASCII and no raw DEL or non-ASCII byte reaches a log (found by the fuzzer).
                if (reader.ValueSpan.Length + 2 > PortalLimits.MaxIdBytes
                    || reader.ValueSpan.IndexOfAnyExceptInRange((byte)0x20, (byte)0x7e) >= 0
                    || OptionsReader.TryReadText(ref reader, out var text) is not null)
                {
                    return null;
                }

                return JsonRpcId.FromWire("\"" + Encoding.UTF8.GetString(reader.ValueSpan) + "\"", text, 0);
            default:
                reader.Skip();
                return null;
        }
    }

    /// <summary>The current token's raw text for a message: at most <see cref="ShownBytes"/>, invalid UTF-8 replaced, control characters dropped.</summary>
    internal static string Shown(ref Utf8JsonReader reader)
    {
        var raw = reader.ValueSpan;
        var cut = raw.Length > ShownBytes;
        var text = Encoding.UTF8.GetString(cut ? raw[..ShownBytes] : raw);
        var builder = new StringBuilder(text.Length + 1);
        foreach (var rune in text.EnumerateRunes())
        {
            if (!Rune.IsControl(rune))
            {
                builder.Append(rune.ToString());
            }
        }

        if (cut)
        {
            builder.Append('…');
        }

        return builder.ToString();
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        var first = end < 0 ? message : message[..end];
        var lineInfo = first.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (lineInfo > 0)
        {
            first = first[..lineInfo];
        }

        first = first.TrimEnd(' ', '.');
        return first.Length <= 160 ? first : TruncateText(first, 160);
    }

    /// <summary>Cuts at most <paramref name="max"/> chars without splitting a surrogate pair (a lone surrogate cannot be written as JSON).</summary>
    internal static string TruncateText(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }

        var cut = char.IsHighSurrogate(text[max - 1]) ? max - 1 : max;
        return string.Concat(text.AsSpan(0, cut), "…");
    }

    internal static byte[] Rent(int length) => ArrayPool<byte>.Shared.Rent(length);

    internal static void Return(byte[] buffer) => ArrayPool<byte>.Shared.Return(buffer);
}
