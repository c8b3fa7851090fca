using System.Globalization;
using Spectrum.Capabilities;

namespace Spectrum.Policy.Toml;

/// <summary>The schema of <c>vms/&lt;name&gt;.toml</c>.</summary>
internal static class VmFileParser
{
    private static readonly (string, VmmKind)[] Vmms = [("cloud-hypervisor", VmmKind.CloudHypervisor), ("qemu", VmmKind.Qemu)];

    private static readonly (string, VmArchitecture)[] Arches = [("x86_64", VmArchitecture.X64), ("aarch64", VmArchitecture.Arm64)];

    private static readonly (string, VirtiofsdCache)[] CacheModes =
        [("never", VirtiofsdCache.Never), ("metadata", VirtiofsdCache.Metadata), ("auto", VirtiofsdCache.Auto), ("always", VirtiofsdCache.Always)];

    private static readonly (string, GrantKind)[] Kinds = [("file", GrantKind.File), ("directory", GrantKind.Directory)];

    public static VmPolicy Parse(string name, TomlTableNode root, string file, string policyDirectory, bool checkFiles, List<PolicyError> errors)
    {
        var top = new TableReader(root, "the top level", ["vm", "grant", "portal", "view"], file, errors);
        var policy = new VmPolicy { Name = name, File = file };

        if (top.Table("vm") is { } vmTable)
        {
            policy = policy with { Vm = ParseVm(new TableReader(vmTable, "[vm]", VmKeys, file, errors), policyDirectory, checkFiles) };
        }

        if (top.TableArray("grant") is { } grantTables)
        {
            policy = policy with { Grants = ParseGrants(name, grantTables, file, errors) };
        }

        if (top.Table("portal") is { } portalTable)
        {
            policy = policy with { Portal = ParsePortal(new TableReader(portalTable, "[portal]", ["allow", "deny", "max_rights", "persistence"], file, errors)) };
        }

        if (top.Table("view") is { } viewTable)
        {
            var r = new TableReader(viewTable, "[view]", ["passthrough"], file, errors);
            policy = policy with { View = new ViewOptions { Passthrough = r.Boolean("passthrough") ?? false } };
        }

        return policy;
    }

    private static readonly string[] VmKeys =
        ["kernel", "initramfs", "cmdline", "disks", "memory", "cpus", "vmm", "arch", "virtiofsd_cache"];

    private static VmDefinition? ParseVm(TableReader r, string policyDirectory, bool checkFiles)
    {
        var kernel = ValueParsers.FilePath(r, "kernel", policyDirectory);
        if (kernel is null && r.Entry("kernel") is null)
        {
            r.Error(r.Pos, "[vm] needs 'kernel', the path of the guest kernel");
        }

        var initramfs = ValueParsers.FilePath(r, "initramfs", policyDirectory);
        var disks = new List<string>();
        foreach (var (text, pos) in r.StringArray("disks") ?? [])
        {
            if (ValueParsers.ResolveFile(text, pos, r, "disks", policyDirectory) is { } disk)
            {
                disks.Add(disk);
                if (checkFiles)
                {
                    MustExist(r, "disk", disk, pos);
                }
            }
        }

        if (checkFiles)
        {
            if (kernel is var (k, kPos))
            {
                MustExist(r, "kernel", k, kPos);
            }

            if (initramfs is var (i, iPos))
            {
                MustExist(r, "initramfs", i, iPos);
            }
        }

        long? memory = null;
        if (r.String("memory") is var (memoryText, memoryPos))
        {
            if (ValueParsers.TryParseMemory(memoryText, out var bytes, out var error))
            {
                memory = bytes;
            }
            else
            {
                r.Error(memoryPos, error);
            }
        }

        var cpus = ValueParsers.IntegerInRange(r, "cpus", 1, VmDefinition.MaxCpus);
        var vmm = ValueParsers.Choice(r, "vmm", Vmms);
        var arch = ValueParsers.Choice(r, "arch", Arches);
        var cache = ValueParsers.Choice(r, "virtiofsd_cache", CacheModes);
        var cmdline = r.String("cmdline")?.Value;
        if (kernel is null)
        {
            return null;
        }

        return new VmDefinition
        {
            Kernel = kernel.Value.Value,
            Initramfs = initramfs?.Value,
            Cmdline = cmdline ?? "",
            Disks = new EquatableList<string>(disks),
            MemoryBytes = memory ?? VmDefinition.DefaultMemoryBytes,
            Cpus = cpus ?? 1,
            Vmm = vmm ?? VmmKind.CloudHypervisor,
            Arch = arch ?? VmArchitecture.X64,
            VirtiofsdCache = cache ?? VirtiofsdCache.Never,
        };
    }

    private static void MustExist(TableReader r, string what, string path, SourcePos pos)
    {
        if (!File.Exists(path))
        {
            r.Error(pos, $"{what} file '{path}' does not exist; build or download it, or fix the path");
        }
    }

    private static EquatableList<StaticGrant> ParseGrants(string vm, List<TomlTableNode> tables, string file, List<PolicyError> errors)
    {
        var grants = new List<StaticGrant>();
        var seen = new Dictionary<string, SourcePos>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            var r = new TableReader(table, "[[grant]]", ["path", "rights", "expires", "kind"], file, errors);
            TreePath? path = null;
            if (r.String("path") is var (text, pos))
            {
                if (!TreePath.TryParse(text, out path, out var error))
                {
                    r.Error(pos, "'path' in [[grant]]: " + error);
                }
                else if (seen.TryGetValue(path.Value.Value, out var first))
                {
                    r.Error(pos, string.Create(CultureInfo.InvariantCulture,
                        $"path '{text}' is already granted at line {first.Line}; merge the two [[grant]] entries into one"));
                    path = null;
                }
                else
                {
                    seen.Add(path.Value.Value, pos);
                }
            }
            else if (r.Entry("path") is null)
            {
                r.Error(r.Pos, "[[grant]] needs 'path', relative to the tree, such as path = \"Documents\"");
            }

            var rights = ValueParsers.RightsValue(r, "rights");
            var expires = ValueParsers.Duration(r, "expires");
            var kind = ValueParsers.Choice(r, "kind", Kinds);
            if (path is { } p)
            {
                grants.Add(new StaticGrant
                {
                    Vm = vm,
                    Path = p,
                    Rights = rights ?? Rights.ReadOnly,
                    Expires = expires,
                    Kind = kind,
                });
            }
        }

        return new EquatableList<StaticGrant>(grants.OrderBy(g => g.Path.Value, StringComparer.Ordinal));
    }

    private static PortalPolicy ParsePortal(TableReader r)
    {
        var policy = PortalPolicy.Default;
        policy = policy with
        {
            Allow = Globs(r, "allow"),
            Deny = Globs(r, "deny"),
            MaxRights = ValueParsers.RightsValue(r, "max_rights") ?? policy.MaxRights,
        };

        if (r.String("persistence") is var (text, pos))
        {
            if (text == "session")
            {
                policy = policy with { Persistence = PortalPersistence.Session };
            }
            else if (text == "persistent")
            {
                policy = policy with { Persistence = PortalPersistence.Persistent };
            }
            else if (DurationText.TryParse(text, out var duration, out _))
            {
                policy = policy with { Persistence = PortalPersistence.For(duration) };
            }
            else
            {
                r.Error(pos, $"'persistence' in [portal] must be \"session\", \"persistent\" or a duration such as \"8h\", found \"{text}\"");
            }
        }

        return policy;
    }

    private static EquatableList<PathGlob> Globs(TableReader r, string key)
    {
        var globs = new List<PathGlob>();
        foreach (var (text, pos) in r.StringArray(key) ?? [])
        {
            if (PathGlob.TryParse(text, out var glob, out var error))
            {
                globs.Add(glob);
            }
            else
            {
                r.Error(pos, $"'{key}' in [portal]: {error}");
            }
        }

        return new EquatableList<PathGlob>(globs);
    }
}
