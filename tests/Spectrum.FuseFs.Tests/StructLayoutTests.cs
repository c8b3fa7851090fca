using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Spectrum.Interop;

namespace Spectrum.FuseFs.Tests;

/// <summary>
/// Every protocol struct against &lt;linux/fuse.h&gt;: a C program compiled in the test run prints
/// sizeof and offsetof of each field, and the managed layout must match byte for byte.
/// </summary>
public sealed class StructLayoutTests
{
    // C# type → C struct name where the PascalCase does not map back mechanically.
    private static readonly (Type Type, string CName)[] Structs =
    [
        (typeof(FuseInHeader), "fuse_in_header"),
        (typeof(FuseOutHeader), "fuse_out_header"),
        (typeof(FuseInitIn), "fuse_init_in"),
        (typeof(FuseInitOut), "fuse_init_out"),
        (typeof(FuseAttr), "fuse_attr"),
        (typeof(FuseEntryOut), "fuse_entry_out"),
        (typeof(FuseAttrOut), "fuse_attr_out"),
        (typeof(FuseGetAttrIn), "fuse_getattr_in"),
        (typeof(FuseSetAttrIn), "fuse_setattr_in"),
        (typeof(FuseOpenIn), "fuse_open_in"),
        (typeof(FuseOpenOut), "fuse_open_out"),
        (typeof(FuseReadIn), "fuse_read_in"),
        (typeof(FuseWriteIn), "fuse_write_in"),
        (typeof(FuseWriteOut), "fuse_write_out"),
        (typeof(FuseReleaseIn), "fuse_release_in"),
        (typeof(FuseFlushIn), "fuse_flush_in"),
        (typeof(FuseFsyncIn), "fuse_fsync_in"),
        (typeof(FuseForgetIn), "fuse_forget_in"),
        (typeof(FuseBatchForgetIn), "fuse_batch_forget_in"),
        (typeof(FuseForgetOne), "fuse_forget_one"),
        (typeof(FuseInterruptIn), "fuse_interrupt_in"),
        (typeof(FuseMknodIn), "fuse_mknod_in"),
        (typeof(FuseMkdirIn), "fuse_mkdir_in"),
        (typeof(FuseRenameIn), "fuse_rename_in"),
        (typeof(FuseRename2In), "fuse_rename2_in"),
        (typeof(FuseLinkIn), "fuse_link_in"),
        (typeof(FuseCreateIn), "fuse_create_in"),
        (typeof(FuseDirent), "fuse_dirent"),
        (typeof(FuseDirentplus), "fuse_direntplus"),
        (typeof(FuseKStatfs), "fuse_kstatfs"),
        (typeof(FuseStatfsOut), "fuse_statfs_out"),
        (typeof(FuseAccessIn), "fuse_access_in"),
        (typeof(FuseSetxattrIn), "fuse_setxattr_in"),
        (typeof(FuseGetxattrIn), "fuse_getxattr_in"),
        (typeof(FuseGetxattrOut), "fuse_getxattr_out"),
        (typeof(FuseLkIn), "fuse_lk_in"),
        (typeof(FuseLkOut), "fuse_lk_out"),
        (typeof(FuseFileLock), "fuse_file_lock"),
        (typeof(FuseFallocateIn), "fuse_fallocate_in"),
        (typeof(FuseLseekIn), "fuse_lseek_in"),
        (typeof(FuseLseekOut), "fuse_lseek_out"),
        (typeof(FuseCopyFileRangeIn), "fuse_copy_file_range_in"),
        (typeof(FuseNotifyInvalEntryOut), "fuse_notify_inval_entry_out"),
        (typeof(FuseNotifyInvalInodeOut), "fuse_notify_inval_inode_out"),
        (typeof(FuseNotifyDeleteOut), "fuse_notify_delete_out"),
        (typeof(FuseDevice.BackingMap), "fuse_backing_map"),
    ];

    // Field names whose C spelling is not the snake_case of the PascalCase.
    private static readonly Dictionary<string, string> FieldNames = new()
    {
        ["NodeId"] = "nodeid",
        ["AtimeNsec"] = "atimensec",
        ["MtimeNsec"] = "mtimensec",
        ["CtimeNsec"] = "ctimensec",
    };

    // Post-7.38 fields the installed header (7.38) does not have yet, and what they replaced.
    private const string Preamble = """
        #include <stddef.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <linux/fuse.h>
        #if FUSE_KERNEL_MINOR_VERSION < 40
        #define OFFSET_fuse_init_out_max_stack_depth offsetof(struct fuse_init_out, unused)
        #define OFFSET_fuse_init_out_unused (offsetof(struct fuse_init_out, unused) + 4)
        #define OFFSET_fuse_open_out_backing_id offsetof(struct fuse_open_out, padding)
        struct fuse_backing_map { int32_t fd; uint32_t flags; uint64_t padding; };
        #endif
        #define P(name, value) printf("%s %zu\n", name, (size_t)(value))
        int main(void) {
        """;

    [Fact]
    public void Structs_MatchLinuxFuseHeader_SizeAndEveryFieldOffset()
    {
        Assert.True(File.Exists("/usr/include/linux/fuse.h"), "linux-libc-dev is not installed");
        var expected = new Dictionary<string, long>();
        var program = new StringBuilder(Preamble);
        foreach (var (type, cName) in Structs)
        {
            program.AppendLine($"P(\"{cName}\", sizeof(struct {cName}));");
            expected[cName] = ManagedSize(type);
            Assert.Equal(Marshal.SizeOf(type), ManagedSize(type));
            foreach (var field in Fields(type))
            {
                var cField = FieldNames.GetValueOrDefault(field.Name) ?? Snake(field.Name);
                var key = $"{cName}.{cField}";
                var macro = $"OFFSET_{cName}_{cField}";
                program.AppendLine($"#ifdef {macro}\nP(\"{key}\", {macro});\n#else\nP(\"{key}\", offsetof(struct {cName}, {cField}));\n#endif");
                expected[key] = Marshal.OffsetOf(type, field.Name).ToInt64();
            }
        }

        program.AppendLine("return 0; }");
        var actual = CompileAndRun(program.ToString());
        var mismatches = expected
            .Where(pair => !actual.TryGetValue(pair.Key, out var c) || c != pair.Value)
            .Select(pair => $"{pair.Key}: C# {pair.Value}, C {(actual.TryGetValue(pair.Key, out var c) ? c : "missing")}")
            .ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(actual.Count >= 240, $"only {actual.Count} values compared");
    }

    private static int ManagedSize(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    private static IEnumerable<FieldInfo> Fields(Type type) =>
        type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .OrderBy(field => Marshal.OffsetOf(type, field.Name).ToInt64());

    private static string Snake(string pascal)
    {
        var builder = new StringBuilder();
        for (var i = 0; i < pascal.Length; i++)
        {
            if (char.IsUpper(pascal[i]) && i > 0)
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(pascal[i]));
        }

        return builder.ToString();
    }

    private static Dictionary<string, long> CompileAndRun(string source)
    {
        var directory = Directory.CreateTempSubdirectory("fuse-layout-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "layout.c"), source);
            Run("gcc", directory, "-std=c11", "-Wall", "-Werror", "-o", "layout", "layout.c");
            return Run(Path.Combine(directory, "layout"), directory)
                .Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' '))
                .ToDictionary(parts => parts[0], parts => long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Run(string program, string directory, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program}: {error}");
        return output.Result;
    }
}
