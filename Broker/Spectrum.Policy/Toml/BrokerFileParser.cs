namespace Spectrum.Policy.Toml;

/// <summary>The schema of <c>broker.toml</c>.</summary>
internal static class BrokerFileParser
{
    public static BrokerPolicy Parse(TomlTableNode root, string file, List<PolicyError> errors)
    {
        var top = new TableReader(root, "the top level", ["broker", "guest", "audit", "grants", "portal"], file, errors);
        var policy = new BrokerPolicy { File = file };

        if (top.Table("broker") is { } brokerTable)
        {
            var r = new TableReader(brokerTable, "[broker]", ["tree", "state_dir", "runtime_dir", "socket"], file, errors);
            policy = policy with
            {
                Tree = ValueParsers.AbsolutePath(r, "tree")?.Value,
                StateDir = ValueParsers.AbsolutePath(r, "state_dir")?.Value,
                RuntimeDir = ValueParsers.AbsolutePath(r, "runtime_dir")?.Value,
                Socket = ValueParsers.AbsolutePath(r, "socket")?.Value,
            };
        }

        if (top.Table("guest") is { } guestTable)
        {
            var r = new TableReader(guestTable, "[guest]", ["uid", "gid"], file, errors);
            policy = policy with
            {
                GuestUid = ValueParsers.IntegerInRange(r, "uid", 0, int.MaxValue) ?? policy.GuestUid,
                GuestGid = ValueParsers.IntegerInRange(r, "gid", 0, int.MaxValue) ?? policy.GuestGid,
            };
        }

        if (top.Table("audit") is { } auditTable)
        {
            var r = new TableReader(auditTable, "[audit]", ["deny_interval"], file, errors);
            policy = policy with { DenyInterval = ValueParsers.Duration(r, "deny_interval") ?? policy.DenyInterval };
        }

        if (top.Table("grants") is { } grantsTable)
        {
            var r = new TableReader(grantsTable, "[grants]", ["expiry_sweep"], file, errors);
            policy = policy with { ExpirySweep = ValueParsers.Duration(r, "expiry_sweep") ?? policy.ExpirySweep };
        }

        if (top.Table("portal") is { } portalTable)
        {
            var r = new TableReader(portalTable, "[portal]", ["bus", "backend", "command"], file, errors);
            policy = policy with
            {
                PortalBus = BusAddress(r, "bus"),
                PortalBackend = BusName(r, "backend") ?? policy.PortalBackend,
                PortalCommand = Command(r, "command") ?? policy.PortalCommand,
            };
        }

        return policy;
    }

    /// <summary>A D-Bus address: <c>transport:key=value,…</c>, alternatives separated by <c>;</c>.</summary>
    private static string? BusAddress(TableReader r, string key)
    {
        if (r.String(key) is not var (text, pos))
        {
            return null;
        }

        var valid = text.Length > 0 && text.Split(';', StringSplitOptions.RemoveEmptyEntries) is { Length: > 0 } parts &&
            parts.All(p => p.IndexOf(':', StringComparison.Ordinal) > 0) && !text.Any(char.IsControl);
        if (!valid)
        {
            r.Error(pos, $"'{key}' in {r.Name} must be a D-Bus address such as \"unix:path=/run/user/1000/bus\", found '{text}'");
            return null;
        }

        return text;
    }

    /// <summary>
    /// A D-Bus well-known name (the specification's rules): two or more dot-separated elements of
    /// <c>[A-Za-z0-9_-]</c>, none empty or starting with a digit, at most 255 characters.
    /// </summary>
    private static string? BusName(TableReader r, string key)
    {
        if (r.String(key) is not var (text, pos))
        {
            return null;
        }

        var elements = text.Split('.');
        var valid = text.Length <= 255 && elements.Length >= 2 && elements.All(e =>
            e.Length > 0 && !char.IsAsciiDigit(e[0]) && e.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'));
        if (!valid)
        {
            r.Error(pos, $"'{key}' in {r.Name} must be a D-Bus bus name such as \"{BrokerPolicy.DefaultPortalBackend}\", found '{text}'");
            return null;
        }

        return text;
    }

    /// <summary>A program and its arguments, run without a shell: the program by its absolute path.</summary>
    private static EquatableList<string>? Command(TableReader r, string key)
    {
        if (r.StringArray(key) is not { } items)
        {
            return null;
        }

        if (items.Count > 0 && !ValueParsers.IsAbsolute(items[0].Value, items[0].Pos, r, key))
        {
            return null;
        }

        foreach (var (text, pos) in items)
        {
            if (text.Contains('\0', StringComparison.Ordinal))
            {
                r.Error(pos, $"every element of '{key}' in {r.Name} must be free of NUL characters");
                return null;
            }
        }

        return new EquatableList<string>(items.Select(i => i.Value));
    }
}
