using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace Spectrum.Policy.Toml;

/// <summary>
/// Parses TOML text with Tomlyn's <see cref="SyntaxParser"/> and folds the syntax tree into a
/// tree of <see cref="TomlNode"/>s that keeps every key's and value's position.
/// </summary>
internal static class TomlDocumentBuilder
{
    /// <summary>
    /// Returns the root table, or null when the text is not valid TOML (the parser's diagnostics
    /// are then in <paramref name="errors"/>).
    /// </summary>
    public static TomlTableNode? Build(string text, string file, List<PolicyError> errors)
    {
        DocumentSyntax document;
        try
        {
            document = SyntaxParser.Parse(text, file, validate: true);
        }
        catch (Tomlyn.TomlException e)
        {
            // Thrown rather than reported for some limits, such as nesting deeper than 64.
            errors.Add(new PolicyError(file, e.Line ?? 1, e.Column ?? 1, "not valid TOML: " + e.Message));
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The parser is meant to report problems as diagnostics; this is a last line of
            // defence so that no input can make loading fail with anything but a PolicyError.
            errors.Add(new PolicyError(file, 1, 1, "not valid TOML: " + e.Message));
            return null;
        }

        var before = errors.Count;
        foreach (var diagnostic in document.Diagnostics)
        {
            if (diagnostic.Kind == DiagnosticMessageKind.Error)
            {
                var pos = Pos(diagnostic.Span.Start);
                errors.Add(new PolicyError(file, pos.Line, pos.Column, diagnostic.Message));
            }
        }

        if (errors.Count > before)
        {
            return null;
        }

        var builder = new Builder(file, errors);
        var root = new TomlTableNode(new SourcePos(1, 1), isInline: false, isExplicit: true);
        foreach (var keyValue in document.KeyValues)
        {
            builder.AddKeyValue(root, keyValue);
        }

        foreach (var table in document.Tables)
        {
            builder.AddTable(root, table);
        }

        return errors.Count > before ? null : root;
    }

    internal static SourcePos Pos(TextPosition position) =>
        new(Math.Max(position.Line, 0) + 1, Math.Max(position.Column, 0) + 1);

    internal static SourcePos Pos(SyntaxNodeBase? node) =>
        node is null ? new SourcePos(1, 1) : Pos(node.Span.Start);

    private sealed class Builder(string file, List<PolicyError> errors)
    {
        public void AddKeyValue(TomlTableNode table, KeyValueSyntax keyValue)
        {
            if (keyValue.Key is null || keyValue.Value is null)
            {
                Error(Pos(keyValue), "incomplete key/value pair");
                return;
            }

            var parts = KeyParts(keyValue.Key);
            var target = table;
            for (var i = 0; i < parts.Count - 1; i++)
            {
                var next = ChildTable(target, parts[i], allowExisting: true);
                if (next is null)
                {
                    return;
                }

                target = next;
            }

            var (key, keyPos) = parts[^1];
            if (target.Find(key) is { } existing)
            {
                Error(keyPos, $"key '{key}' is defined twice (first at line {existing.KeyPos.Line})");
                return;
            }

            var value = Convert(keyValue.Value);
            if (value is not null)
            {
                target.Add(new TomlEntry(key, keyPos, value));
            }
        }

        public void AddTable(TomlTableNode root, TableSyntaxBase table)
        {
            if (table.Name is null)
            {
                Error(Pos(table), "table header without a name");
                return;
            }

            var parts = KeyParts(table.Name);
            var target = root;
            for (var i = 0; i < parts.Count - 1; i++)
            {
                var next = ChildTable(target, parts[i], allowExisting: true);
                if (next is null)
                {
                    return;
                }

                target = next;
            }

            var (key, keyPos) = parts[^1];
            TomlTableNode body;
            if (table is TableArraySyntax)
            {
                var existing = target.Find(key);
                TomlTableArrayNode array;
                if (existing is null)
                {
                    array = new TomlTableArrayNode(keyPos);
                    target.Add(new TomlEntry(key, keyPos, array));
                }
                else if (existing.Value is TomlTableArrayNode found)
                {
                    array = found;
                }
                else
                {
                    Error(keyPos, $"'{key}' is already defined as a {existing.Value.TypeName} at line {existing.KeyPos.Line}");
                    return;
                }

                body = new TomlTableNode(Pos(table), isInline: false, isExplicit: true);
                array.Tables.Add(body);
            }
            else
            {
                var existing = target.Find(key);
                if (existing is null)
                {
                    body = new TomlTableNode(Pos(table), isInline: false, isExplicit: true);
                    target.Add(new TomlEntry(key, keyPos, body));
                }
                else if (existing.Value is TomlTableNode { IsInline: false, IsExplicit: false } implicitTable)
                {
                    implicitTable.IsExplicit = true;
                    body = implicitTable;
                }
                else
                {
                    Error(keyPos, $"table [{key}] is defined twice (first at line {existing.KeyPos.Line})");
                    return;
                }
            }

            foreach (var keyValue in table.Items)
            {
                AddKeyValue(body, keyValue);
            }
        }

        /// <summary>The table at <paramref name="part"/> in <paramref name="parent"/>, created when absent.</summary>
        private TomlTableNode? ChildTable(TomlTableNode parent, (string Key, SourcePos Pos) part, bool allowExisting)
        {
            var existing = parent.Find(part.Key);
            if (existing is null)
            {
                var created = new TomlTableNode(part.Pos, isInline: false, isExplicit: false);
                parent.Add(new TomlEntry(part.Key, part.Pos, created));
                return created;
            }

            switch (existing.Value)
            {
                case TomlTableNode { IsInline: false } table when allowExisting:
                    return table;
                case TomlTableArrayNode { Tables.Count: > 0 } array when allowExisting:
                    return array.Tables[^1];
                default:
                    Error(part.Pos, $"'{part.Key}' is already defined as a {existing.Value.TypeName} at line {existing.KeyPos.Line}");
                    return null;
            }
        }

        private TomlNode? Convert(ValueSyntax value)
        {
            var pos = Pos(value);
            switch (value)
            {
                case StringValueSyntax s:
                    return new TomlScalar(pos, s.Value ?? "", "string");
                case IntegerValueSyntax i:
                    return new TomlScalar(pos, i.Value, "integer");
                case BooleanValueSyntax b:
                    return new TomlScalar(pos, b.Value, "boolean");
                case FloatValueSyntax f:
                    return new TomlScalar(pos, f.Value, "float");
                case DateTimeValueSyntax d:
                    return new TomlScalar(pos, d.Value.ToString() ?? "", "datetime");
                case ArraySyntax a:
                {
                    var array = new TomlArrayNode(pos);
                    foreach (var item in a.Items)
                    {
                        if (item.Value is not null && Convert(item.Value) is { } converted)
                        {
                            array.Items.Add(converted);
                        }
                    }

                    return array;
                }

                case InlineTableSyntax t:
                {
                    var table = new TomlTableNode(pos, isInline: true, isExplicit: true);
                    foreach (var item in t.Items)
                    {
                        if (item.KeyValue is not null)
                        {
                            AddKeyValue(table, item.KeyValue);
                        }
                    }

                    return table;
                }

                default:
                    Error(pos, "unsupported TOML value");
                    return null;
            }
        }

        private List<(string Key, SourcePos Pos)> KeyParts(KeySyntax key)
        {
            var parts = new List<(string, SourcePos)> { (KeyText(key.Key), Pos(key.Key)) };
            foreach (var dotted in key.DotKeys)
            {
                parts.Add((KeyText(dotted.Key), Pos(dotted.Key)));
            }

            return parts;
        }

        private static string KeyText(BareKeyOrStringValueSyntax? key) => key switch
        {
            BareKeySyntax bare => bare.Key?.Text ?? "",
            StringValueSyntax quoted => quoted.Value ?? "",
            _ => "",
        };

        private void Error(SourcePos pos, string message) =>
            errors.Add(new PolicyError(file, pos.Line, pos.Column, message));
    }

}
