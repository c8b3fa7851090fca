namespace Spectrum.Policy.Toml;

/// <summary>The schema of <c>broker.toml</c>.</summary>
internal static class BrokerFileParser
{
    public static BrokerPolicy Parse(TomlTableNode root, string file, List<PolicyError> errors)
    {
        var top = new TableReader(root, "the top level", ["broker", "guest", "audit", "grants"], file, errors);
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

        return policy;
    }
}
