namespace Spectrum.Capabilities;

/// <summary>
/// What a grant allows. The <em>names</em> are the external contract (CLI, policy files, JSON);
/// the bit values are frozen too, because the <c>rights</c> caveat of a token carries them
/// (see the golden tests), so a new right may only take a new bit.
/// </summary>
[Flags]
public enum Rights : ushort
{
    None = 0,
    Read = 1 << 0,
    Write = 1 << 1,
    Create = 1 << 2,
    Delete = 1 << 3,
    Rename = 1 << 4,
    SetAttr = 1 << 5,
    Grant = 1 << 6,

    /// <summary>The <c>ro</c> preset.</summary>
    ReadOnly = Read,

    /// <summary>The <c>rw</c> preset: everything but <c>grant</c>.</summary>
    ReadWrite = Read | Write | Create | Delete | Rename | SetAttr,

    /// <summary>Every right that exists.</summary>
    All = ReadWrite | Grant,
}

/// <summary>Parses and formats rights strings: <c>ro</c>, <c>rw</c>, or a comma list of names.</summary>
public static class RightsText
{
    private static readonly (string Name, Rights Bit)[] Names =
    [
        ("read", Rights.Read),
        ("write", Rights.Write),
        ("create", Rights.Create),
        ("delete", Rights.Delete),
        ("rename", Rights.Rename),
        ("setattr", Rights.SetAttr),
        ("grant", Rights.Grant),
    ];

    /// <summary>The right names in their canonical order.</summary>
    public static IReadOnlyList<string> AllNames { get; } = Names.Select(n => n.Name).ToArray();

    /// <summary>
    /// Parses <c>ro</c>, <c>rw</c>, <c>all</c> or a comma-separated list such as <c>read,write,grant</c>.
    /// Presets may be combined with names (<c>rw,grant</c>). Whitespace around names is ignored.
    /// </summary>
    public static bool TryParse(string? text, out Rights rights, out string error)
    {
        rights = Rights.None;
        error = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "rights are empty; use ro, rw or a comma list of " + string.Join(", ", AllNames);
            return false;
        }

        foreach (var raw in text.Split(','))
        {
            var part = raw.Trim();
            switch (part)
            {
                case "ro": rights |= Rights.ReadOnly; continue;
                case "rw": rights |= Rights.ReadWrite; continue;
                case "all": rights |= Rights.All; continue;
            }

            var found = false;
            foreach (var (name, bit) in Names)
            {
                if (part == name)
                {
                    rights |= bit;
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                error = $"unknown right '{part}'; use ro, rw, all or a comma list of " + string.Join(", ", AllNames);
                rights = Rights.None;
                return false;
            }
        }

        return true;
    }

    /// <summary>Parses or throws <see cref="FormatException"/> with a message that names the fix.</summary>
    public static Rights Parse(string? text) =>
        TryParse(text, out var rights, out var error) ? rights : throw new FormatException(error);

    /// <summary>Canonical text: <c>ro</c>, <c>rw</c>, <c>rw,grant</c>, or names in canonical order.</summary>
    public static string Format(Rights rights)
    {
        if (rights == Rights.None)
        {
            return "none";
        }

        var parts = new List<string>();
        var rest = rights;
        if ((rest & Rights.ReadWrite) == Rights.ReadWrite)
        {
            parts.Add("rw");
            rest &= ~Rights.ReadWrite;
        }
        else if (rest == Rights.ReadOnly)
        {
            return "ro";
        }

        foreach (var (name, bit) in Names)
        {
            if ((rest & bit) != 0)
            {
                parts.Add(name);
            }
        }

        return string.Join(",", parts);
    }

    /// <summary>The individual names, in canonical order, for JSON output.</summary>
    public static IReadOnlyList<string> ToNames(Rights rights) =>
        Names.Where(n => (rights & n.Bit) != 0).Select(n => n.Name).ToArray();
}
