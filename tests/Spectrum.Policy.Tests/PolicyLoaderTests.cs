using Spectrum.Capabilities;

namespace Spectrum.Policy.Tests;

public sealed class PolicyLoaderTests : IDisposable
{
    private readonly PolicyDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Load_EveryBrokerKey_Parsed()
    {
        dir.Write("broker.toml", """
            [broker]
            tree = "/home/alice"
            state_dir = "/var/lib/x"
            runtime_dir = "/run/x"
            socket = "/run/x/broker.sock"
            [guest]
            uid = 1001
            gid = 1002
            [audit]
            deny_interval = "1m"
            [grants]
            expiry_sweep = "5s"
            """);

        var broker = PolicyLoader.Load(dir.Path).Broker;

        Assert.Equal("/home/alice", broker.Tree);
        Assert.Equal("/var/lib/x", broker.StateDir);
        Assert.Equal("/run/x", broker.RuntimeDir);
        Assert.Equal("/run/x/broker.sock", broker.Socket);
        Assert.Equal(1001, broker.GuestUid);
        Assert.Equal(1002, broker.GuestGid);
        Assert.Equal(TimeSpan.FromMinutes(1), broker.DenyInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), broker.ExpirySweep);
        Assert.Equal(dir.File("broker.toml"), broker.File);
    }

    [Fact]
    public void Load_NoBrokerFile_UsesDefaults()
    {
        var set = PolicyLoader.Load(dir.Path);

        Assert.Equal(BrokerPolicy.Default, set.Broker);
        Assert.Null(set.Broker.Tree);
        Assert.Equal(1000, set.Broker.GuestUid);
        Assert.Equal(1000, set.Broker.GuestGid);
        Assert.Equal(TimeSpan.FromSeconds(10), set.Broker.DenyInterval);
        Assert.Equal(TimeSpan.FromSeconds(30), set.Broker.ExpirySweep);
        Assert.Empty(set.Vms);
        Assert.Equal(dir.Path, set.Directory);
    }

    [Fact]
    public void Load_EmptyBrokerFile_UsesDefaults()
    {
        dir.Write("broker.toml", "# nothing\n");

        Assert.Equal(BrokerPolicy.Default with { File = dir.File("broker.toml") }, PolicyLoader.Load(dir.Path).Broker);
    }

    [Fact]
    public void Load_EveryVmKey_Parsed()
    {
        dir.Vm("work", """
            [vm]
            kernel = "/k/vmlinux"
            initramfs = "/k/initrd"
            cmdline = "console=ttyS0"
            disks = ["/d/a.img", "/d/b.img"]
            memory = "2G"
            cpus = 4
            vmm = "qemu"
            arch = "aarch64"
            virtiofsd_cache = "auto"

            [[grant]]
            path = "Documents/Work"
            rights = "read,write,grant"
            expires = "1h30m"
            kind = "directory"

            [[grant]]
            path = "Pictures/a.png"

            [portal]
            allow = ["**"]
            deny = [".ssh/**", ".gnupg/**"]
            max_rights = "ro"
            persistence = "8h"

            [view]
            passthrough = true
            """);

        var vm = PolicyLoader.Load(dir.Path).Vms["work"];

        Assert.Equal("work", vm.Name);
        Assert.Equal(dir.File("vms/work.toml"), vm.File);
        var def = Assert.IsType<VmDefinition>(vm.Vm);
        Assert.Equal("/k/vmlinux", def.Kernel);
        Assert.Equal("/k/initrd", def.Initramfs);
        Assert.Equal("console=ttyS0", def.Cmdline);
        Assert.Equal(["/d/a.img", "/d/b.img"], def.Disks);
        Assert.Equal(2L << 30, def.MemoryBytes);
        Assert.Equal(4, def.Cpus);
        Assert.Equal(VmmKind.Qemu, def.Vmm);
        Assert.Equal(VmArchitecture.Arm64, def.Arch);
        Assert.Equal(VirtiofsdCache.Auto, def.VirtiofsdCache);

        Assert.Equal(2, vm.Grants.Count);
        var work = vm.Grants[0];
        Assert.Equal("work", work.Vm);
        Assert.Equal("Documents/Work", work.Path.Value);
        Assert.Equal(Rights.Read | Rights.Write | Rights.Grant, work.Rights);
        Assert.Equal(TimeSpan.FromMinutes(90), work.Expires);
        Assert.Equal(GrantKind.Directory, work.Kind);
        var picture = vm.Grants[1];
        Assert.Equal("Pictures/a.png", picture.Path.Value);
        Assert.Equal(Rights.ReadOnly, picture.Rights);
        Assert.Null(picture.Expires);
        Assert.Null(picture.Kind);

        Assert.Equal(["**"], vm.Portal.Allow.Select(g => g.Pattern));
        Assert.Equal([".ssh/**", ".gnupg/**"], vm.Portal.Deny.Select(g => g.Pattern));
        Assert.Equal(Rights.ReadOnly, vm.Portal.MaxRights);
        Assert.Equal(PortalPersistence.For(TimeSpan.FromHours(8)), vm.Portal.Persistence);
        Assert.True(vm.View.Passthrough);
    }

    [Fact]
    public void Load_EmptyVmFile_GetsDefaults()
    {
        dir.Vm("bare", "");

        var vm = PolicyLoader.Load(dir.Path).Vms["bare"];

        Assert.Null(vm.Vm);
        Assert.Empty(vm.Grants);
        Assert.Empty(vm.Portal.Allow);
        Assert.Empty(vm.Portal.Deny);
        Assert.Equal(Rights.ReadWrite, vm.Portal.MaxRights);
        Assert.Equal(PortalPersistence.Session, vm.Portal.Persistence);
        Assert.False(vm.View.Passthrough);
        Assert.False(vm.Portal.Permits(TreePath.Parse("Documents")));
    }

    [Fact]
    public void Load_VmTableWithOnlyKernel_GetsDefaults()
    {
        dir.Vm("small", "[vm]\nkernel = \"/k\"\n");

        var def = PolicyLoader.Load(dir.Path).Vms["small"].Vm!;

        Assert.Null(def.Initramfs);
        Assert.Equal("", def.Cmdline);
        Assert.Empty(def.Disks);
        Assert.Equal(512L << 20, def.MemoryBytes);
        Assert.Equal(1, def.Cpus);
        Assert.Equal(VmmKind.CloudHypervisor, def.Vmm);
        Assert.Equal(VmArchitecture.X64, def.Arch);
        Assert.Equal(VirtiofsdCache.Never, def.VirtiofsdCache);
    }

    [Theory]
    [InlineData("session", PortalPersistenceKind.Session, 0)]
    [InlineData("persistent", PortalPersistenceKind.Persistent, 0)]
    [InlineData("2d", PortalPersistenceKind.Timed, 48 * 3600)]
    public void Load_PortalPersistence_Parsed(string text, PortalPersistenceKind kind, int seconds)
    {
        dir.Vm("a", $"[portal]\npersistence = \"{text}\"\n");

        var persistence = PolicyLoader.Load(dir.Path).Vms["a"].Portal.Persistence;

        Assert.Equal(kind, persistence.Kind);
        Assert.Equal(seconds == 0 ? null : TimeSpan.FromSeconds(seconds), persistence.Duration);
        Assert.Equal(text, persistence.ToString());
    }

    [Theory]
    [InlineData("64M", 64L << 20)]
    [InlineData("512M", 512L << 20)]
    [InlineData("2048M", 2048L << 20)]
    [InlineData("1G", 1L << 30)]
    [InlineData("1024G", 1L << 40)]
    public void Load_Memory_ParsedToBytes(string text, long bytes)
    {
        dir.Vm("a", $"[vm]\nkernel = \"/k\"\nmemory = \"{text}\"\n");

        Assert.Equal(bytes, PolicyLoader.Load(dir.Path).Vms["a"].Vm!.MemoryBytes);
    }

    [Fact]
    public void Load_DottedKeysAndInlineTables_Accepted()
    {
        dir.Vm("a", """
            portal.allow = ["Documents/**"]
            view = { passthrough = true }
            grant = [{ path = "Documents" }, { path = "Music", rights = "rw" }]
            """);

        var vm = PolicyLoader.Load(dir.Path).Vms["a"];

        Assert.True(vm.Portal.Permits(TreePath.Parse("Documents/x")));
        Assert.True(vm.View.Passthrough);
        Assert.Equal(["Documents", "Music"], vm.Grants.Select(g => g.Path.Value));
    }

    [Fact]
    public void Load_MissingDirectory_ErrorNamesPathAndFix()
    {
        var missing = Path.Combine(dir.Path, "nope");

        var e = Assert.Throws<PolicyException>(() => PolicyLoader.Load(missing));

        var error = Assert.Single(e.Errors);
        Assert.Equal(missing, error.File);
        Assert.Equal(0, error.Line);
        Assert.Contains("--policies DIR", error.Message, StringComparison.Ordinal);
        Assert.Contains("SPECTRUM_POLICIES", error.Message, StringComparison.Ordinal);
        Assert.StartsWith(missing + ": policy directory does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownKeyInPortal_ReportsFileLineColumn()
    {
        dir.Vm("editor", "[portal]\nallow = []\n  alow = [\"**\"]\n");

        var error = dir.Error();

        Assert.Equal(new PolicyError(dir.File("vms/editor.toml"), 3, 3,
            "unknown key 'alow' in [portal]; known keys: allow, deny, max_rights, persistence"), error);
        Assert.Equal($"{dir.File("vms/editor.toml")}:3:3: unknown key 'alow' in [portal]; known keys: allow, deny, max_rights, persistence", error.ToString());
    }

    [Fact]
    public void Load_UnknownTopLevelTable_ReportsPosition()
    {
        dir.Vm("a", "# comment\n[portals]\nallow = []\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 2, 2,
            "unknown key 'portals' in the top level; known keys: grant, portal, view, vm"), dir.Error());
    }

    [Fact]
    public void Load_UnknownKeyInGrant_ReportsPosition()
    {
        dir.Vm("a", "[[grant]]\npath = \"Documents\"\nright = \"rw\"\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 3, 1,
            "unknown key 'right' in [[grant]]; known keys: expires, kind, path, rights"), dir.Error());
    }

    [Fact]
    public void Load_UnknownDottedKeyInVm_ReportsPositionOfTheKey()
    {
        dir.Vm("a", "[vm]\nkernel = \"/k\"\nmem.size = 1\n");

        var error = dir.Error();

        Assert.Equal((3, 1), (error.Line, error.Column));
        Assert.StartsWith("unknown key 'mem' in [vm]; known keys: arch, cmdline, cpus, disks, initramfs, kernel, memory, virtiofsd_cache, vmm", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownKeyInBrokerFile_ReportsPosition()
    {
        dir.Write("broker.toml", "[guest]\nuid = 1\n\n[audit]\ndeny_intervall = \"1s\"\n");

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 5, 1,
            "unknown key 'deny_intervall' in [audit]; known keys: deny_interval"), dir.Error());
    }

    [Fact]
    public void Load_WrongTypeForCpus_ReportsValuePosition()
    {
        dir.Vm("a", "[vm]\nkernel = \"/k\"\ncpus = \"2\"\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 3, 8,
            "key 'cpus' in [vm] must be an integer, found string"), dir.Error());
    }

    [Theory]
    [InlineData("[view]\npassthrough = \"yes\"\n", 2, 15, "key 'passthrough' in [view] must be a boolean (true or false), found string")]
    [InlineData("[portal]\nallow = \"**\"\n", 2, 9, "key 'allow' in [portal] must be an array of strings, found string")]
    [InlineData("[portal]\nallow = [\"a\", 1]\n", 2, 15, "every element of 'allow' in [portal] must be a string, found integer")]
    [InlineData("[vm]\nkernel = 1\n", 2, 10, "key 'kernel' in [vm] must be a string, found integer")]
    [InlineData("[vm]\nkernel = \"/k\"\nmemory = 1024\n", 3, 10, "key 'memory' in [vm] must be a string, found integer")]
    [InlineData("[[grant]]\npath = \"a\"\nexpires = 8\n", 3, 11, "key 'expires' in [[grant]] must be a string, found integer")]
    [InlineData("[grant]\npath = \"a\"\n", 1, 1, "key 'grant' in the top level must be an array of tables ([[grant]]), found table")]
    [InlineData("vm = \"x\"\n", 1, 6, "key 'vm' in the top level must be a table ([vm]), found string")]
    [InlineData("[view]\npassthrough = 1.5\n", 2, 15, "key 'passthrough' in [view] must be a boolean (true or false), found float")]
    public void Load_WrongType_ReportsExpectedAndFound(string toml, int line, int column, string message)
    {
        dir.Vm("a", toml);

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), line, column, message), dir.Error());
    }

    [Fact]
    public void Load_TomlSyntaxError_ReportsParserPosition()
    {
        dir.Vm("a", "[portal]\nallow = [\"a\"\n");

        var error = Assert.Single(dir.Errors());

        Assert.Equal(dir.File("vms/a.toml"), error.File);
        Assert.True(error.Line >= 2, error.ToString());
        Assert.True(error.Column >= 1, error.ToString());
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void Load_NestingTooDeep_ReportedNotCrashed()
    {
        dir.Vm("a", "x = " + new string('[', 100_000) + "\n");

        var error = dir.Error();

        Assert.Equal(dir.File("vms/a.toml"), error.File);
        Assert.StartsWith("not valid TOML:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingEquals_ReportsLineOfTheError()
    {
        dir.Vm("a", "[view]\npassthrough true\n");

        var error = dir.Errors()[0];

        Assert.Equal(2, error.Line);
    }

    [Fact]
    public void Load_DuplicateKey_ReportsSecond()
    {
        dir.Vm("a", "[view]\npassthrough = true\npassthrough = false\n");

        var error = dir.Errors()[0];

        Assert.Equal(dir.File("vms/a.toml"), error.File);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Load_DuplicateTable_ReportsSecond()
    {
        dir.Vm("a", "[view]\npassthrough = true\n[view]\n");

        Assert.Equal(3, dir.Errors()[0].Line);
    }

    [Fact]
    public void Load_DuplicateGrantPath_ErrorAtSecond()
    {
        dir.Vm("a", "[[grant]]\npath = \"Documents\"\n\n[[grant]]\npath = \"Documents\"\nrights = \"rw\"\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 5, 8,
            "path 'Documents' is already granted at line 2; merge the two [[grant]] entries into one"), dir.Error());
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("a/../b")]
    [InlineData("a//b")]
    [InlineData("")]
    [InlineData("Documents/")]
    public void Load_BadGrantPath_ReportsTreePathErrorVerbatim(string path)
    {
        dir.Vm("a", $"[[grant]]\npath = \"{path}\"\n");
        TreePath.TryParse(path, out _, out var expected);

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 2, 8, "'path' in [[grant]]: " + expected), dir.Error());
    }

    [Fact]
    public void Load_GrantWithoutPath_ReportsAtHeader()
    {
        dir.Vm("a", "[view]\n\n[[grant]]\nrights = \"rw\"\n");

        var error = dir.Error();

        Assert.Equal((3, 1), (error.Line, error.Column));
        Assert.StartsWith("[[grant]] needs 'path'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_VmWithoutKernel_ReportsAtHeader()
    {
        dir.Vm("a", "\n[vm]\ncpus = 2\n");

        var error = dir.Error();

        Assert.Equal((2, 1), (error.Line, error.Column));
        Assert.StartsWith("[vm] needs 'kernel'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rights = \"rwx\"", "'rights' in [[grant]]: ")]
    [InlineData("rights = \"\"", "'rights' in [[grant]]: ")]
    public void Load_BadRights_ReportsRightsTextError(string line, string prefix)
    {
        dir.Vm("a", $"[[grant]]\npath = \"a\"\n{line}\n");
        var text = line[(line.IndexOf('"', StringComparison.Ordinal) + 1)..^1];
        RightsText.TryParse(text, out _, out var expected);

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 3, 10, prefix + expected), dir.Error());
    }

    [Fact]
    public void Load_BadMaxRights_Reports()
    {
        dir.Vm("a", "[portal]\nmax_rights = \"all-of-it\"\n");

        var error = dir.Error();

        Assert.Equal((2, 14), (error.Line, error.Column));
        Assert.StartsWith("'max_rights' in [portal]: unknown right 'all-of-it'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("8")]
    [InlineData("0s")]
    [InlineData("soon")]
    [InlineData("-1h")]
    public void Load_BadDuration_ReportsDurationTextError(string text)
    {
        dir.Write("broker.toml", $"[grants]\nexpiry_sweep = \"{text}\"\n");
        DurationText.TryParse(text, out _, out var expected);

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 2, 16, "'expiry_sweep' in [grants]: " + expected), dir.Error());
    }

    [Theory]
    [InlineData("32M", "memory '32M' is less than the minimum of 64M")]
    [InlineData("2000G", "memory '2000G' is more than the maximum of 1024G")]
    [InlineData("1.5G", "memory '1.5G' must be a size such as 512M or 2G (M = MiB, G = GiB)")]
    [InlineData("1g", "memory '1g' must be a size such as 512M or 2G (M = MiB, G = GiB)")]
    [InlineData("1T", "memory '1T' must be a size such as 512M or 2G (M = MiB, G = GiB)")]
    [InlineData("0G", "memory '0G' must be a size such as 512M or 2G (M = MiB, G = GiB)")]
    [InlineData("G", "memory 'G' must be a size such as 512M or 2G (M = MiB, G = GiB)")]
    [InlineData("99999999999M", "memory '99999999999M' must be a size such as 512M or 2G (M = MiB, G = GiB)")]
    public void Load_BadMemory_Reports(string text, string message)
    {
        dir.Vm("a", $"[vm]\nkernel = \"/k\"\nmemory = \"{text}\"\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 3, 10, message), dir.Error());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    [InlineData(-1)]
    public void Load_CpusOutOfRange_Reports(int cpus)
    {
        dir.Vm("a", $"[vm]\nkernel = \"/k\"\ncpus = {cpus}\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 3, 8, $"'cpus' in [vm] must be between 1 and 64, found {cpus}"), dir.Error());
    }

    [Fact]
    public void Load_NegativeUid_Reports()
    {
        dir.Write("broker.toml", "[guest]\nuid = -5\n");

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 2, 7, "'uid' in [guest] must be between 0 and 2147483647, found -5"), dir.Error());
    }

    [Theory]
    [InlineData("vmm = \"firecracker\"", "'vmm' in [vm] must be one of \"cloud-hypervisor\", \"qemu\", found \"firecracker\"")]
    [InlineData("arch = \"arm64\"", "'arch' in [vm] must be one of \"x86_64\", \"aarch64\", found \"arm64\"")]
    [InlineData("virtiofsd_cache = \"sometimes\"", "'virtiofsd_cache' in [vm] must be one of \"never\", \"metadata\", \"auto\", \"always\", found \"sometimes\"")]
    [InlineData("initramfs = \"\"", "'initramfs' in [vm] must be a file path, absolute or relative to the policy directory, found ''")]
    [InlineData("disks = [\"\"]", "'disks' in [vm] must be a file path, absolute or relative to the policy directory, found ''")]
    public void Load_BadVmValue_Reports(string line, string message)
    {
        dir.Vm("a", $"[vm]\nkernel = \"/k\"\n{line}\n");

        var error = dir.Error();

        Assert.Equal(3, error.Line);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Load_RelativeBrokerPath_Reports()
    {
        dir.Write("broker.toml", "[broker]\ntree = \"home/user\"\n");

        Assert.Equal(new PolicyError(dir.File("broker.toml"), 2, 8,
            "'tree' in [broker] must be an absolute path (starting with /), found 'home/user'"), dir.Error());
    }

    [Fact]
    public void Load_BadGrantKind_Reports()
    {
        dir.Vm("a", "[[grant]]\npath = \"a\"\nkind = \"dir\"\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 3, 8,
            "'kind' in [[grant]] must be one of \"file\", \"directory\", found \"dir\""), dir.Error());
    }

    [Fact]
    public void Load_BadPersistence_Reports()
    {
        dir.Vm("a", "[portal]\npersistence = \"forever\"\n");

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 2, 15,
            "'persistence' in [portal] must be \"session\", \"persistent\" or a duration such as \"8h\", found \"forever\""), dir.Error());
    }

    [Theory]
    [InlineData("/home/**")]
    [InlineData("../x")]
    [InlineData("a**")]
    [InlineData("*.{jpg,png}")]
    [InlineData("")]
    public void Load_BadGlob_ReportsPathGlobError(string glob)
    {
        dir.Vm("a", $"[portal]\nallow = [\"ok/**\", \"{glob}\"]\n");
        PathGlob.TryParse(glob, out _, out var expected);

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 2, 19, "'allow' in [portal]: " + expected), dir.Error());
    }

    [Theory]
    [InlineData("Editor")]
    [InlineData("-editor")]
    [InlineData(".editor")]
    [InlineData("my editor")]
    [InlineData("édit")]
    [InlineData("")]
    public void Load_BadVmFileName_Reported(string name)
    {
        dir.Vm("good", "");
        dir.Vm(name, "");

        var error = dir.Error();

        Assert.Equal(dir.File($"vms/{name}.toml"), error.File);
        Assert.Equal(0, error.Line);
        Assert.Contains($"'{name}' is not a valid VM name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_VmNameOf64Characters_Accepted_65_Refused()
    {
        dir.Vm(new string('a', 64), "");
        Assert.Single(PolicyLoader.Load(dir.Path).Vms);

        dir.Vm(new string('b', 65), "");
        Assert.Contains("is not a valid VM name", dir.Error().Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("0day")]
    [InlineData("web-browser_2.test")]
    public void IsValidVmName_GoodNames_True(string name) => Assert.True(PolicyLoader.IsValidVmName(name));

    [Fact]
    public void Load_NonTomlFilesAndDirectories_Ignored()
    {
        dir.Vm("a", "");
        dir.Write("vms/README", "not toml [[[");
        dir.Write("vms/b.toml.example", "garbage [[[");
        dir.Write("vms/c.toml~", "garbage [[[");
        dir.Write("vms/sub.toml/inner.toml", "garbage [[[");
        dir.Write("other.toml", "garbage [[[");

        Assert.Equal(["a"], PolicyLoader.Load(dir.Path).Vms.Keys);
    }

    [Fact]
    public void Load_ErrorsInTwoFiles_BothReported()
    {
        dir.Write("broker.toml", "[guest]\nuid = \"me\"\n");
        dir.Vm("a", "[view]\nfast = true\n");
        dir.Vm("b", "[[grant]]\npath = \"/abs\"\n\n[portal]\nmax_rights = \"x\"\n");

        var errors = dir.Errors();

        Assert.Equal(
            [
                (dir.File("broker.toml"), 2),
                (dir.File("vms/a.toml"), 2),
                (dir.File("vms/b.toml"), 2),
                (dir.File("vms/b.toml"), 5),
            ],
            errors.Select(e => (e.File, e.Line)));
    }

    [Fact]
    public void Load_BrokenFileAmongGoodOnes_FailsTheWholeLoad()
    {
        dir.Vm("a", "[[grant]]\npath = \"Documents\"\n");
        dir.Vm("b", "[[grant\n");
        dir.Vm("c", "[[grant]]\npath = \"Music\"\n");

        var errors = dir.Errors();

        Assert.All(errors, e => Assert.Equal(dir.File("vms/b.toml"), e.File));
    }

    [Fact]
    public void Load_SeveralErrors_MessageIsFirstPlusCount()
    {
        dir.Vm("a", "x = 1\ny = 2\nz = 3\n");

        var e = Assert.Throws<PolicyException>(() => PolicyLoader.Load(dir.Path));

        Assert.Equal(3, e.Errors.Count);
        Assert.Equal(e.Errors[0] + " (and 2 more)", e.Message);
        Assert.StartsWith(dir.File("vms/a.toml") + ":1:1: unknown key 'x'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ErrorsWithinAFile_SortedByPosition()
    {
        dir.Vm("a", "[portal]\nmax_rights = \"bad\"\n\n[vm]\ncpus = 0\nwhat = 1\n");

        var errors = dir.Errors();

        Assert.Equal([2, 4, 5, 6], errors.Select(e => e.Line));
    }

    [Fact]
    public void Check_ValidDirectory_ReturnsNoErrors()
    {
        dir.Vm("a", "[[grant]]\npath = \"Documents\"\n");

        Assert.Empty(PolicyLoader.Check(dir.Path));
    }

    [Fact]
    public void Load_InvalidUtf8_ReportsPositionOfTheBadByte()
    {
        dir.WriteBytes("vms/a.toml", [.. "# ok\n# bad: "u8, 0xff, (byte)'\n']);

        Assert.Equal(new PolicyError(dir.File("vms/a.toml"), 2, 8, "the file is not valid UTF-8 here; TOML files must be UTF-8"), dir.Error());
    }

    [Fact]
    public void Load_Utf8ByteOrderMark_Accepted()
    {
        dir.WriteBytes("vms/a.toml", [0xEF, 0xBB, 0xBF, .. "[view]\npassthrough = true\n"u8]);

        Assert.True(PolicyLoader.Load(dir.Path).Vms["a"].View.Passthrough);
    }

    [Fact]
    public void Load_OversizedFile_Refused()
    {
        dir.Write("vms/a.toml", "#" + new string('x', (int)PolicyLoader.MaxFileBytes) + "\n");

        Assert.Contains("larger than", dir.Error().Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_CheckFiles_MissingKernelAndDisk_Reported()
    {
        var kernel = dir.File("vmlinux");
        File.WriteAllText(kernel, "k");
        dir.Vm("a", $"[vm]\nkernel = \"{kernel}\"\ninitramfs = \"{dir.File("initrd")}\"\ndisks = [\"{dir.File("root.img")}\"]\n");

        Assert.NotNull(PolicyLoader.Load(dir.Path).Vms["a"].Vm);
        var errors = dir.Errors(checkFiles: true);

        Assert.Equal([3, 4], errors.Select(e => e.Line));
        Assert.Equal($"initramfs file '{dir.File("initrd")}' does not exist; build or download it, or fix the path", errors[0].Message);
        Assert.StartsWith($"disk file '{dir.File("root.img")}' does not exist", errors[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_RelativeVmPaths_ResolveAgainstThePolicyDirectory()
    {
        dir.Vm("a", "[vm]\nkernel = \"images/vmlinuz\"\ninitramfs = \"./images/initramfs.img\"\ndisks = [\"../shared/root.img\", \"/abs/disk.img\"]\n");

        var vm = PolicyLoader.Load(dir.Path).Vms["a"].Vm!;

        Assert.Equal(dir.File("images/vmlinuz"), vm.Kernel);
        Assert.Equal(dir.File("images/initramfs.img"), vm.Initramfs);
        Assert.Equal([Path.GetFullPath(Path.Combine(dir.Path, "..", "shared", "root.img")), "/abs/disk.img"], vm.Disks);
    }

    [Fact]
    public void Load_CheckFiles_MissingRelativeKernel_NamesTheResolvedPath()
    {
        dir.Vm("a", "[vm]\nkernel = \"images/vmlinuz\"\n");

        var error = Assert.Single(dir.Errors(checkFiles: true));

        Assert.Equal((2, 10), (error.Line, error.Column));
        Assert.Equal($"kernel file '{dir.File("images/vmlinuz")}' does not exist; build or download it, or fix the path", error.Message);
    }

    [Fact]
    public void Load_Twice_GivesEqualSets()
    {
        dir.Write("broker.toml", "[guest]\nuid = 7\n");
        dir.Vm("b", "[vm]\nkernel = \"/k\"\ndisks = [\"/a\"]\n[[grant]]\npath = \"x\"\n[portal]\nallow = [\"**\"]\n");
        dir.Vm("a", "[[grant]]\npath = \"y\"\n");

        var first = PolicyLoader.Load(dir.Path);
        var second = PolicyLoader.Load(dir.Path);

        Assert.Equal(first, second);
        Assert.Equal(first.GetHashCode(), second.GetHashCode());
        Assert.NotEqual(first, second with { Broker = second.Broker with { GuestUid = 8 } });
    }

    [Fact]
    public void Load_OrderIsIndependentOfWritingOrder()
    {
        string[] names = ["zeta", "alpha", "mid", "Alpha2".ToLowerInvariant(), "b-1", "b.0"];
        using var other = new PolicyDirectory();
        foreach (var name in names)
        {
            dir.Vm(name, Grants(name));
        }

        foreach (var name in names.Reverse())
        {
            other.Vm(name, Grants(name));
        }

        var a = PolicyLoader.Load(dir.Path);
        var b = PolicyLoader.Load(other.Path);

        string[] sorted = [.. names.Order(StringComparer.Ordinal)];
        Assert.Equal(sorted, a.Vms.Keys);
        Assert.Equal(sorted, b.Vms.Keys);
        Assert.Equal(a.StaticGrants, b.StaticGrants);
        Assert.Equal(
            a.StaticGrants.Select(g => (g.Vm, g.Path.Value)).OrderBy(g => g.Vm, StringComparer.Ordinal).ThenBy(g => g.Value, StringComparer.Ordinal),
            a.StaticGrants.Select(g => (g.Vm, g.Path.Value)));

        static string Grants(string name) =>
            $"[[grant]]\npath = \"z/{name}\"\n[[grant]]\npath = \"B\"\n[[grant]]\npath = \"a\"\n";
    }

    [Fact]
    public void Load_GrantsWithinAVm_SortedByPathOrdinal()
    {
        dir.Vm("a", "[[grant]]\npath = \"b\"\n[[grant]]\npath = \"B\"\n[[grant]]\npath = \"a/b\"\n[[grant]]\npath = \"a\"\n");

        Assert.Equal(["B", "a", "a/b", "b"], PolicyLoader.Load(dir.Path).Vms["a"].Grants.Select(g => g.Path.Value));
    }
}
