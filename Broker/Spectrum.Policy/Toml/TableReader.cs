namespace Spectrum.Policy.Toml;

/// <summary>
/// Reads typed values out of one <see cref="TomlTableNode"/> against a fixed list of known keys,
/// reporting unknown keys and wrong types at their positions. A reader returns null for a key
/// that is absent or invalid; the caller applies the default, and the error list decides whether
/// the file as a whole is accepted.
/// </summary>
internal sealed class TableReader
{
    private readonly TomlTableNode table;
    private readonly string file;
    private readonly List<PolicyError> errors;

    /// <param name="table">The table to read.</param>
    /// <param name="name">How messages name the table: <c>[portal]</c>, <c>[[grant]]</c>.</param>
    /// <param name="knownKeys">Every key the table may hold; any other is reported.</param>
    /// <param name="file">The file, for errors.</param>
    /// <param name="errors">Where errors go.</param>
    public TableReader(TomlTableNode table, string name, IReadOnlyCollection<string> knownKeys, string file, List<PolicyError> errors)
    {
        this.table = table;
        this.file = file;
        this.errors = errors;
        Name = name;
        var known = string.Join(", ", knownKeys.Order(StringComparer.Ordinal));
        foreach (var entry in table.Entries)
        {
            if (!knownKeys.Contains(entry.Key))
            {
                Error(entry.KeyPos, $"unknown key '{entry.Key}' in {name}; known keys: {known}");
            }
        }
    }

    public string Name { get; }

    public SourcePos Pos => table.Pos;

    public TomlEntry? Entry(string key) => table.Find(key);

    public (string Value, SourcePos Pos)? String(string key) =>
        table.Find(key) is { } entry ? AsString(entry.Key, entry.Value) : null;

    public (long Value, SourcePos Pos)? Integer(string key)
    {
        if (table.Find(key) is not { } entry)
        {
            return null;
        }

        if (entry.Value is TomlScalar { Value: long value })
        {
            return (value, entry.Value.Pos);
        }

        WrongType(key, "an integer", entry.Value);
        return null;
    }

    public bool? Boolean(string key)
    {
        if (table.Find(key) is not { } entry)
        {
            return null;
        }

        if (entry.Value is TomlScalar { Value: bool value })
        {
            return value;
        }

        WrongType(key, "a boolean (true or false)", entry.Value);
        return null;
    }

    /// <summary>An array of strings; null when absent or not an array (wrong elements are reported and skipped).</summary>
    public List<(string Value, SourcePos Pos)>? StringArray(string key)
    {
        if (table.Find(key) is not { } entry)
        {
            return null;
        }

        if (entry.Value is not TomlArrayNode array)
        {
            WrongType(key, "an array of strings", entry.Value);
            return null;
        }

        var result = new List<(string, SourcePos)>();
        foreach (var item in array.Items)
        {
            if (item is TomlScalar { Value: string s })
            {
                result.Add((s, item.Pos));
            }
            else
            {
                Error(item.Pos, $"every element of '{key}' in {Name} must be a string, found {item.TypeName}");
            }
        }

        return result;
    }

    /// <summary>A sub-table; null when absent or not a table.</summary>
    public TomlTableNode? Table(string key)
    {
        if (table.Find(key) is not { } entry)
        {
            return null;
        }

        if (entry.Value is TomlTableNode sub)
        {
            return sub;
        }

        WrongType(key, $"a table ([{key}])", entry.Value);
        return null;
    }

    /// <summary>An array of tables (<c>[[key]]</c>, or an array of inline tables); null when absent or of another type.</summary>
    public List<TomlTableNode>? TableArray(string key)
    {
        if (table.Find(key) is not { } entry)
        {
            return null;
        }

        switch (entry.Value)
        {
            case TomlTableArrayNode array:
                return array.Tables;
            case TomlArrayNode inline when inline.Items.All(i => i is TomlTableNode):
                return inline.Items.Cast<TomlTableNode>().ToList();
            default:
                WrongType(key, $"an array of tables ([[{key}]])", entry.Value);
                return null;
        }
    }

    public void Error(SourcePos pos, string message) =>
        errors.Add(new PolicyError(file, pos.Line, pos.Column, message));

    private (string, SourcePos)? AsString(string key, TomlNode value)
    {
        if (value is TomlScalar { Value: string s })
        {
            return (s, value.Pos);
        }

        WrongType(key, "a string", value);
        return null;
    }

    private void WrongType(string key, string expected, TomlNode found) =>
        Error(found.Pos, $"key '{key}' in {Name} must be {expected}, found {found.TypeName}");
}
