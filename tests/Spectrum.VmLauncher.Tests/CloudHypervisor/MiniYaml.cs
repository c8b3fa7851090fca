using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Spectrum.VmLauncher.Tests.CloudHypervisor;

/// <summary>
/// The YAML subset Cloud Hypervisor's OpenAPI document is written in, parsed to JSON nodes: block
/// mappings and sequences by indentation (sequences may sit at their key's indent), plain, quoted
/// and multi-line plain scalars, <c>|</c>/<c>&gt;</c> block scalars, flow sequences of scalars, and
/// comments. No anchors, tags or flow mappings (the document has none); anything outside the
/// subset throws rather than parsing to something else.
/// </summary>
internal sealed class MiniYaml
{
    private readonly string[] lines;
    private int index;

    private MiniYaml(string text) => lines = text.Replace("\r", "", StringComparison.Ordinal).Split('\n');

    public static JsonNode? Parse(string text)
    {
        var parser = new MiniYaml(text);
        var node = parser.ParseNode();
        parser.SkipInsignificant();
        return parser.index == parser.lines.Length ? node : throw parser.Error("unexpected content");
    }

    private static int IndentOf(string line) => line.Length - line.TrimStart(' ').Length;

    private static bool IsSequenceItem(string content) => content == "-" || content.StartsWith("- ", StringComparison.Ordinal);

    private void SkipInsignificant()
    {
        while (index < lines.Length && (lines[index].Trim().Length == 0 || lines[index].TrimStart().StartsWith('#')))
        {
            index++;
        }
    }

    private JsonNode? ParseNode()
    {
        SkipInsignificant();
        if (index == lines.Length)
        {
            return null;
        }

        var indent = IndentOf(lines[index]);
        var content = lines[index].Trim();
        if (IsSequenceItem(content))
        {
            return ParseSequence(indent);
        }

        return TrySplitKey(content, out _, out _) ? ParseMapping(indent) : ParsePlainBlock(indent);
    }

    private JsonObject ParseMapping(int indent)
    {
        var map = new JsonObject();
        while (true)
        {
            SkipInsignificant();
            if (index == lines.Length || IndentOf(lines[index]) < indent)
            {
                return map;
            }

            var content = lines[index].Trim();
            if (IndentOf(lines[index]) > indent)
            {
                throw Error("unexpected indentation");
            }

            if (IsSequenceItem(content))
            {
                return map; // a sequence at the parent key's indent ends this mapping
            }

            if (!TrySplitKey(content, out var key, out var rest))
            {
                throw Error("expected 'key: value'");
            }

            if (map.ContainsKey(key))
            {
                throw Error($"duplicate key '{key}'");
            }

            index++;
            map[key] = ParseValue(indent, rest);
        }
    }

    private JsonNode? ParseValue(int ownerIndent, string rest)
    {
        if (rest.Length == 0)
        {
            SkipInsignificant();
            if (index == lines.Length)
            {
                return null;
            }

            var next = IndentOf(lines[index]);
            if (next > ownerIndent)
            {
                return ParseNode();
            }

            return next == ownerIndent && IsSequenceItem(lines[index].Trim()) ? ParseSequence(ownerIndent) : null;
        }

        if (rest[0] is '|' or '>')
        {
            return BlockScalar(ownerIndent, literal: rest[0] == '|');
        }

        var scalar = Scalar(rest);

        // A plain scalar may continue on more-indented lines (folded with spaces).
        if (rest[0] is not '"' and not '\'' and not '[' && scalar is JsonValue v && v.TryGetValue<string>(out var s))
        {
            var builder = new StringBuilder(s);
            while (index < lines.Length && lines[index].Trim().Length > 0 && IndentOf(lines[index]) > ownerIndent
                && !lines[index].TrimStart().StartsWith('#'))
            {
                builder.Append(' ').Append(lines[index++].Trim());
            }

            return JsonValue.Create(builder.ToString());
        }

        return scalar;
    }

    private JsonArray ParseSequence(int indent)
    {
        var array = new JsonArray();
        while (true)
        {
            SkipInsignificant();
            if (index == lines.Length || IndentOf(lines[index]) != indent || !IsSequenceItem(lines[index].Trim()))
            {
                return array;
            }

            var item = lines[index].Trim()[1..];
            var itemIndent = indent + 1 + (item.Length - item.TrimStart(' ').Length);
            item = StripComment(item.Trim());
            if (item.Length == 0)
            {
                index++;
                array.Add(ParseNode());
            }
            else if (TrySplitKey(item, out _, out _))
            {
                // "- key: value": the item is a mapping whose first line starts after the dash.
                lines[index] = new string(' ', itemIndent) + item;
                array.Add(ParseMapping(itemIndent));
            }
            else
            {
                index++;
                array.Add(Scalar(item));
            }
        }
    }

    private JsonValue ParsePlainBlock(int indent)
    {
        var builder = new StringBuilder();
        while (index < lines.Length && (lines[index].Trim().Length == 0 || IndentOf(lines[index]) >= indent))
        {
            if (lines[index].Trim().Length > 0)
            {
                builder.Append(builder.Length == 0 ? "" : " ").Append(lines[index].Trim());
            }

            index++;
        }

        return JsonValue.Create(builder.ToString());
    }

    private JsonValue BlockScalar(int ownerIndent, bool literal)
    {
        var collected = new List<string>();
        var blockIndent = -1;
        while (index < lines.Length && (lines[index].Trim().Length == 0 || IndentOf(lines[index]) > ownerIndent))
        {
            var line = lines[index++];
            if (line.Trim().Length == 0)
            {
                collected.Add("");
                continue;
            }

            if (blockIndent < 0)
            {
                blockIndent = IndentOf(line);
            }

            collected.Add(line.Length >= blockIndent ? line[blockIndent..] : line.Trim());
        }

        while (collected.Count > 0 && collected[^1].Length == 0)
        {
            collected.RemoveAt(collected.Count - 1);
        }

        return JsonValue.Create(string.Join(literal ? "\n" : " ", collected) + (literal ? "\n" : ""));
    }

    private static bool TrySplitKey(string content, out string key, out string rest)
    {
        key = rest = "";
        int colon;
        if (content.StartsWith('"') || content.StartsWith('\''))
        {
            var close = content.IndexOf(content[0], 1);
            if (close < 0 || close + 1 >= content.Length || content[close + 1] != ':')
            {
                return false;
            }

            key = content[1..close];
            colon = close + 1;
        }
        else
        {
            colon = content.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || content[..colon].Contains(' ', StringComparison.Ordinal))
            {
                return false;
            }

            key = content[..colon];
        }

        if (colon + 1 < content.Length && content[colon + 1] != ' ')
        {
            return false;
        }

        rest = StripComment(content[(colon + 1)..].Trim());
        return true;
    }

    private static string StripComment(string value)
    {
        char? quote = null;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (quote is null && c is '"' or '\'')
            {
                quote = c;
            }
            else if (quote == c)
            {
                quote = null;
            }
            else if (quote is null && c == '#' && (i == 0 || value[i - 1] == ' '))
            {
                return value[..i].TrimEnd();
            }
        }

        return value;
    }

    private static JsonNode? Scalar(string text)
    {
        if (text.StartsWith('"'))
        {
            if (!text.EndsWith('"') || text.Length < 2)
            {
                throw new FormatException($"unterminated string {text}");
            }

            return JsonValue.Create(text[1..^1].Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\n", "\n", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal));
        }

        if (text.StartsWith('\''))
        {
            return JsonValue.Create(text[1..^1].Replace("''", "'", StringComparison.Ordinal));
        }

        if (text.StartsWith('['))
        {
            if (!text.EndsWith(']'))
            {
                throw new FormatException($"multi-line flow sequences are not in the subset: {text}");
            }

            var array = new JsonArray();
            foreach (var part in text[1..^1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                array.Add(Scalar(part));
            }

            return array;
        }

        if (text.StartsWith('{') || text.StartsWith('&') || text.StartsWith('*') || text.StartsWith('!'))
        {
            throw new FormatException($"not in the YAML subset: {text}");
        }

        return text switch
        {
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            "null" or "~" => null,
            _ when long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            _ when text.Contains('.', StringComparison.Ordinal) && text.Count(c => c == '.') == 1
                && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
            _ => JsonValue.Create(text),
        };
    }

    private FormatException Error(string what) =>
        new($"YAML line {index + 1}: {what}: '{(index < lines.Length ? lines[index] : "<end>")}'");
}
