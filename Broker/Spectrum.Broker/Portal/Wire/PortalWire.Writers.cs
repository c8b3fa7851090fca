using System.Buffers;
using System.Text.Json;

namespace Spectrum.Broker.Portal.Wire;

/// <summary>
/// The replies (and, for the guest side and the tests, the requests) as single lines. Strings are
/// written with the default encoder: the output is ASCII, any non-ASCII or control character an
/// escape, so no byte of a reply can end its line early. The bytes are frozen by golden tests.
/// </summary>
public static partial class PortalWire
{
    /// <summary><c>{"jsonrpc":"2.0","id":…,"result":{"response":…,"uris":[…],"writable":…,"choices":[[id,value]…],"current_filter":[name,[[kind,pattern]…]]}}</c> and a newline; current_filter only when set.</summary>
    /// <exception cref="ArgumentException">A string is not valid UTF-16 (a lone surrogate).</exception>
    public static byte[] Result(JsonRpcId id, FileChooserResult result) => Line(id, writer =>
    {
        writer.WriteStartObject("result");
        writer.WriteNumber("response", result.Response);
        writer.WriteStartArray("uris");
        foreach (var uri in result.Uris)
        {
            writer.WriteStringValue(uri);
        }

        writer.WriteEndArray();
        writer.WriteBoolean("writable", result.Writable);
        writer.WriteStartArray("choices");
        foreach (var choice in result.Choices)
        {
            writer.WriteStartArray();
            writer.WriteStringValue(choice.Id);
            writer.WriteStringValue(choice.Value);
            writer.WriteEndArray();
        }

        writer.WriteEndArray();
        if (result.CurrentFilter is { } filter)
        {
            writer.WritePropertyName("current_filter");
            WriteFilter(writer, filter);
        }

        writer.WriteEndObject();
    });

    /// <summary><c>{"jsonrpc":"2.0","id":…,"result":{}}</c> and a newline: the answer to <c>Close</c>.</summary>
    public static byte[] CloseResult(JsonRpcId id) => Line(id, writer =>
    {
        writer.WriteStartObject("result");
        writer.WriteEndObject();
    });

    /// <summary><c>{"jsonrpc":"2.0","id":…|null,"error":{"code":…,"message":…}}</c> and a newline.</summary>
    /// <exception cref="ArgumentException"><paramref name="message"/> is not valid UTF-16.</exception>
    public static byte[] Error(JsonRpcId? id, int code, string message) => Line(id, writer =>
    {
        writer.WriteStartObject("error");
        writer.WriteNumber("code", code);
        writer.WriteString("message", message);
        writer.WriteEndObject();
    });

    /// <summary>The reply for a line that <see cref="Parse"/> refused.</summary>
    public static byte[] Error(PortalWireError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return Error(error.Id, error.Code, error.Message);
    }

    /// <summary>
    /// A request line in canonical form: options in a fixed order, unset ones and empty lists
    /// left out. <see cref="Parse"/> of it gives the same request back, and writing that again
    /// gives the same bytes (the fuzzer checks both).
    /// </summary>
    public static byte[] Request(ChooserRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var o = request.Options;
        return Line(request.Id, writer =>
        {
            writer.WriteString("method", request.Method switch
            {
                FileChooserMethod.OpenFile => "OpenFile",
                FileChooserMethod.SaveFile => "SaveFile",
                FileChooserMethod.SaveFiles => "SaveFiles",
                _ => throw new ArgumentOutOfRangeException(nameof(request), request.Method, "not a file-chooser method"),
            });
            writer.WriteStartObject("params");
            WriteIfSet(writer, "title", o.Title);
            WriteIfSet(writer, "accept_label", o.AcceptLabel);
            WriteIfSet(writer, "modal", o.Modal);
            WriteIfSet(writer, "multiple", o.Multiple);
            WriteIfSet(writer, "directory", o.Directory);
            if (o.Filters.Count > 0)
            {
                writer.WriteStartArray("filters");
                foreach (var filter in o.Filters)
                {
                    WriteFilter(writer, filter);
                }

                writer.WriteEndArray();
            }

            if (o.CurrentFilter is { } current)
            {
                writer.WritePropertyName("current_filter");
                WriteFilter(writer, current);
            }

            if (o.Choices.Count > 0)
            {
                writer.WriteStartArray("choices");
                foreach (var choice in o.Choices)
                {
                    writer.WriteStartArray();
                    writer.WriteStringValue(choice.Id);
                    writer.WriteStringValue(choice.Label);
                    writer.WriteStartArray();
                    foreach (var option in choice.Options)
                    {
                        writer.WriteStartArray();
                        writer.WriteStringValue(option.Id);
                        writer.WriteStringValue(option.Label);
                        writer.WriteEndArray();
                    }

                    writer.WriteEndArray();
                    writer.WriteStringValue(choice.Selected);
                    writer.WriteEndArray();
                }

                writer.WriteEndArray();
            }

            WriteIfSet(writer, "current_name", o.CurrentName);
            WriteIfSet(writer, "current_folder", o.CurrentFolder);
            WriteIfSet(writer, "current_file", o.CurrentFile);
            if (o.Files.Count > 0)
            {
                writer.WriteStartArray("files");
                foreach (var file in o.Files)
                {
                    writer.WriteStringValue(file);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        });
    }

    /// <summary>A <c>Close</c> request line for <paramref name="request"/>.</summary>
    public static byte[] Request(CloseRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Line(request.Id, writer =>
        {
            writer.WriteString("method", "Close");
            writer.WriteStartObject("params");
            writer.WritePropertyName("id");
            writer.WriteRawValue(request.Target.Raw);
            writer.WriteEndObject();
        });
    }

    private static void WriteFilter(Utf8JsonWriter writer, FileFilter filter)
    {
        writer.WriteStartArray();
        writer.WriteStringValue(filter.Name);
        writer.WriteStartArray();
        foreach (var rule in filter.Rules)
        {
            writer.WriteStartArray();
            writer.WriteNumberValue(rule.Kind);
            writer.WriteStringValue(rule.Pattern);
            writer.WriteEndArray();
        }

        writer.WriteEndArray();
        writer.WriteEndArray();
    }

    private static void WriteIfSet(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

    private static void WriteIfSet(Utf8JsonWriter writer, string name, bool? value)
    {
        if (value is { } flag)
        {
            writer.WriteBoolean(name, flag);
        }
    }

    private static byte[] Line(JsonRpcId? id, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("jsonrpc", "2.0");
            writer.WritePropertyName("id");
            if (id is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                // The id is echoed as sent; Parse bounded it and checked it is one JSON string or integer.
                writer.WriteRawValue(id.Raw);
            }

            body(writer);
            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
