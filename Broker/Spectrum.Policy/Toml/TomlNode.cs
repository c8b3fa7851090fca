namespace Spectrum.Policy.Toml;

/// <summary>A 1-based position in a policy file.</summary>
internal readonly record struct SourcePos(int Line, int Column);

/// <summary>
/// A TOML value with the position it was written at. Built from Tomlyn's syntax tree (not its
/// object model) so that every unknown key and every wrong type can be reported at its
/// line:column.
/// </summary>
internal abstract class TomlNode(SourcePos pos)
{
    public SourcePos Pos { get; } = pos;

    /// <summary>The TOML type name used in "must be X, found Y" messages.</summary>
    public abstract string TypeName { get; }
}

internal sealed class TomlScalar(SourcePos pos, object value, string typeName) : TomlNode(pos)
{
    public object Value { get; } = value;

    public override string TypeName { get; } = typeName;
}

internal sealed class TomlArrayNode(SourcePos pos) : TomlNode(pos)
{
    public List<TomlNode> Items { get; } = [];

    public override string TypeName => "array";
}

/// <summary>One entry of a table: its key as written, where the key is, and its value.</summary>
internal sealed record TomlEntry(string Key, SourcePos KeyPos, TomlNode Value);

internal sealed class TomlTableNode(SourcePos pos, bool isInline, bool isExplicit) : TomlNode(pos)
{
    private readonly Dictionary<string, TomlEntry> byKey = new(StringComparer.Ordinal);

    /// <summary>Entries in source order, so that errors come out in reading order.</summary>
    public List<TomlEntry> Entries { get; } = [];

    public bool IsInline { get; } = isInline;

    /// <summary>True once a <c>[header]</c> defined this table (a second header is a redefinition).</summary>
    public bool IsExplicit { get; set; } = isExplicit;

    public override string TypeName => "table";

    public TomlEntry? Find(string key) => byKey.GetValueOrDefault(key);

    public void Add(TomlEntry entry)
    {
        byKey.Add(entry.Key, entry);
        Entries.Add(entry);
    }
}

/// <summary>An array of tables (<c>[[name]]</c>).</summary>
internal sealed class TomlTableArrayNode(SourcePos pos) : TomlNode(pos)
{
    public List<TomlTableNode> Tables { get; } = [];

    public override string TypeName => "array of tables";
}
