using System.Diagnostics;
using Spectrum.Interop;
using Xunit.Abstractions;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// The defects an adversarial probe found (issue 14), each on the real daemon and a real mount:
/// who may reach a view, what a guest can make the broker hold, the file-grant races, renames
/// into a file grant's name, nesting depth, and hard links.
/// </summary>
public sealed class ViewSecHardeningTests(ViewSecFixture fixture, ITestOutputHelper output) : IClassFixture<ViewSecFixture>
{
    /// <summary>nobody: an unprivileged local user.</summary>
    private const string Nobody = "65534";

    private string View(string vm) => fixture.View(vm);

    private string Host(string relative) => fixture.Host(relative);

    [Fact]
    public async Task ForeignUid_CannotUseAView_NotEvenFromAWorkingDirectoryInsideIt()
    {
        var a = fixture.NewArea("foreign");
        fixture.Dirs.Write($"{a}/private.txt", "root only\n");
        File.SetUnixFileMode(Host($"{a}/private.txt"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await fixture.GrantAsync("foreign", a, "rw");
        var v = Path.Combine(View("foreign"), a);

        // The folders above every view are the broker's alone.
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(fixture.Dirs.Run, "vm")));
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(fixture.Dirs.Run, "vm", "foreign")));
        var (code, _, error) = AsNobody(null, "cat", Path.Combine(v, "private.txt"));
        Assert.NotEqual(0, code);
        Assert.Contains("Permission denied", error, StringComparison.Ordinal);

        // A process that is already inside (an inherited working directory, a passed fd) is refused
        // by the view itself: the request carries its uid and pid, neither is the VM's backend's.
        (code, var text, error) = AsNobody(v, "cat", "private.txt");
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("root only", text, StringComparison.Ordinal);
        Assert.Contains("Permission denied", error, StringComparison.Ordinal);
        (code, _, _) = AsNobody(v, "sh", "-c", "echo overwritten > inside.txt; rm -f private.txt; mkdir made");
        Assert.NotEqual(0, code);
        Assert.Equal("inside\n", File.ReadAllText(Host($"{a}/inside.txt")));
        Assert.True(File.Exists(Host($"{a}/private.txt")));
        Assert.False(Directory.Exists(Host($"{a}/made")));

        // Root (an admin) still uses it, and the refusals were audited.
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, "private.txt"), out var mine));
        Assert.Equal("root only\n", mine);
        var denials = await fixture.DenialsAsync("foreign");
        Assert.Contains(denials, r => r.Detail!.StartsWith("foreign-caller", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TwentyThousandFilesInAView_HoldBoundedFds_AndEveryOtherGrantKeepsWorking()
    {
        var flood = fixture.NewArea("flood");
        var calm = fixture.NewArea("calm");
        await fixture.GrantAsync("flood", flood, "rw");
        var calmGrant = await fixture.GrantAsync("calm", calm, "ro");
        var v = Path.Combine(View("flood"), flood);
        var fdsBefore = BrokerFds();
        const int Files = 20_000;
        for (var i = 0; i < Files; i++)
        {
            Assert.Equal(Errno.OK, Open(Path.Combine(v, $"f{i}"), O_WRONLY | O_CREAT | O_EXCL, out var fd, 0x1A4));
            Close(fd);
        }

        // The kernel still knows every one of them (its dentries hold them), yet the broker holds
        // at most its per-VM node fd limit and a little: the rest were given back, kept as handles.
        var fdsAfter = BrokerFds();
        output.WriteLine($"broker fds: {fdsBefore} before, {fdsAfter} after {Files} creates; RSS {BrokerRssMb()} MB");
        Assert.InRange(fdsAfter, 0, fdsBefore + 4096 + 64);

        // Every file is still served (opened again from its handle), and nothing went stale.
        for (var i = 0; i < Files; i += 97)
        {
            Assert.Equal(Errno.OK, StatPath(Path.Combine(v, $"f{i}"), out _));
        }

        Assert.Equal(Errno.OK, ReadFile(Path.Combine(View("calm"), calm, "inside.txt"), out var calmText));
        Assert.Equal("inside\n", calmText);
        Assert.All(await fixture.Client.ListAsync("flood", all: true), g => Assert.Equal("active", g.State));
        Assert.Equal("active", (await fixture.Client.ListAsync("calm")).Single(g => g.Id == calmGrant.Id).State);
    }

    [Fact]
    public async Task OpenFilesAndDirectories_PastTheVmLimit_AreEmfile_AndAnotherVmStillOpens()
    {
        var a = fixture.NewArea("hoard");
        var b = fixture.NewArea("other");
        await fixture.GrantAsync("hoard", a, "ro");
        await fixture.GrantAsync("other", b, "ro");
        var file = Path.Combine(View("hoard"), a, "inside.txt");
        var dir = Path.Combine(View("hoard"), a, "Work");
        var held = new List<int>();
        try
        {
            Errno e;
            while ((e = Open(file, O_RDONLY, out var fd)) == Errno.OK && held.Count < 10_000)
            {
                held.Add(fd);
            }

            output.WriteLine($"open files held before {e}: {held.Count}; broker fds {BrokerFds()}");
            Assert.Equal(Errno.EMFILE, e);
            Assert.Equal(4096, held.Count);
            Assert.Equal(Errno.OK, ReadFile(Path.Combine(View("other"), b, "inside.txt"), out _));

            var dirs = new List<int>();
            while ((e = Open(dir, O_RDONLY | O_DIRECTORY, out var fd)) == Errno.OK && dirs.Count < 10_000)
            {
                dirs.Add(fd);
            }

            held.AddRange(dirs);
            Assert.Equal(Errno.EMFILE, e);
            Assert.Equal(512, dirs.Count);
            Assert.Equal(Errno.OK, Open(Path.Combine(View("other"), b, "Work"), O_RDONLY | O_DIRECTORY, out var otherDir));
            Close(otherDir);
        }
        finally
        {
            held.ForEach(Close);
        }

        // Closed, the slots come back (RELEASE is asynchronous: give it a moment).
        await ViewSecFixture.WaitUntilAsync(() => ReadFile(file, out _) == Errno.OK, "an open to succeed again");
    }

    [Fact]
    public async Task BrokerOutOfFds_AnswersTheErrorAndNeverMakesAGrantStale()
    {
        var areas = Enumerable.Range(0, 20).Select(_ => fixture.NewArea("scarce")).ToList();
        foreach (var area in areas)
        {
            await fixture.Client.GrantAsync("scarce", area, "ro");
            await fixture.Client.GrantAsync("scarce", $"{area}/inside.txt", "ro");
        }

        await ViewSecFixture.WaitMountedAsync(fixture.Dirs, "scarce");
        var pid = fixture.Broker.Pid;
        var limit = ProcLimit(pid);
        try
        {
            // Leave the broker no fd to spare: every lookup of a grant root fails with EMFILE.
            Prlimit(pid, BrokerFds());
            foreach (var area in areas)
            {
                var e = LStat(Path.Combine(View("scarce"), area), out _);
                Assert.True(e is Errno.EMFILE or Errno.ENFILE or Errno.OK, $"{area}: {e}");
                e = LStat(Path.Combine(View("scarce"), area, "inside.txt"), out _);
                Assert.True(e is Errno.EMFILE or Errno.ENFILE or Errno.OK, $"{area}/inside.txt: {e}");
            }
        }
        finally
        {
            Prlimit(pid, limit);
        }

        foreach (var area in areas)
        {
            Assert.Equal(Errno.OK, ReadFile(Path.Combine(View("scarce"), area, "inside.txt"), out var text));
            Assert.Equal("inside\n", text);
        }

        Assert.All(await fixture.Client.ListAsync("scarce", all: true), g => Assert.Equal("active", g.State));
        Assert.DoesNotContain(await fixture.Client.AuditAsync(), r => r.Action == "stale" && r.Vm == "scarce");
    }

    [Fact]
    public async Task FileGrant_WhoseDirectoryIsExchangedOnTheHost_NeverServesTheSiblingsFile()
    {
        // Many file grants, each looked up once while an attacker exchanges its directory with an
        // ungranted sibling holding the same name: the lookup that meets the swap may find the
        // grant stale, or not there, but never reads the sibling's file.
        const int Areas = 400;
        var areas = new List<string>();
        for (var i = 0; i < Areas; i++)
        {
            var area = $"fx{i}";
            fixture.Dirs.Write($"{area}/dir/file.txt", "granted\n");
            fixture.Dirs.Write($"{area}/other/file.txt", "SECRET\n");
            await fixture.Client.GrantAsync("fx", $"{area}/dir/file.txt", "ro");
            areas.Add(area);
        }

        await ViewSecFixture.WaitMountedAsync(fixture.Dirs, "fx");
        var done = 0;
        var attacker = Task.Factory.StartNew(
            () =>
            {
                while (Volatile.Read(ref done) == 0)
                {
                    foreach (var area in areas)
                    {
                        Rename2(Host($"{area}/dir"), Host($"{area}/other"), RENAME_EXCHANGE);
                    }
                }
            },
            TaskCreationOptions.LongRunning);
        var escapes = 0;
        var served = 0;
        try
        {
            foreach (var area in areas)
            {
                if (ReadFile(Path.Combine(View("fx"), area, "dir", "file.txt"), out var text) == Errno.OK)
                {
                    served++;
                    escapes += text.Contains("SECRET", StringComparison.Ordinal) ? 1 : 0;
                }
            }
        }
        finally
        {
            Volatile.Write(ref done, 1);
            await attacker;
        }

        output.WriteLine($"{served} of {Areas} reads served during the attack, {escapes} escapes");
        Assert.Equal(0, escapes);
    }

    [Fact]
    public async Task ExchangeOrLink_OfAnUngrantedFileIntoAFileGrantsName_IsRefused()
    {
        // create,rename on the folder and ro on one file in it: the guest may not read the folder's other files.
        fixture.Dirs.Write("fr/inbox/report.txt", "report\n");
        fixture.Dirs.Write("fr/private/report.txt", "SECRET\n");
        await fixture.GrantAsync("fr", "fr", "create,rename,delete");
        await fixture.GrantAsync("fr", "fr/inbox/report.txt", "ro");
        var v = View("fr");
        Assert.Equal(Errno.EACCES, ReadFile(Path.Combine(v, "fr", "private", "report.txt"), out _));

        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(v, "fr", "private", "report.txt"), Path.Combine(v, "fr", "inbox", "report.txt"), RENAME_EXCHANGE));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(v, "fr", "inbox", "report.txt"), Path.Combine(v, "fr", "private", "report.txt"), RENAME_EXCHANGE));
        Assert.Equal(Errno.EACCES, Rename2(Path.Combine(v, "fr", "private", "report.txt"), Path.Combine(v, "fr", "inbox", "report.txt")));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, "fr", "inbox", "report.txt"), out var text));
        Assert.Equal("report\n", text);
        Assert.Equal("SECRET\n", File.ReadAllText(Host("fr/private/report.txt")));

        // While the granted name is empty, a hard link of the unreadable file may not fill it either.
        File.Move(Host("fr/inbox/report.txt"), Host("fr/report.moved"));
        Assert.Equal(Errno.EACCES, Link(Path.Combine(v, "fr", "private", "report.txt"), Path.Combine(v, "fr", "inbox", "report.txt")));
        Assert.False(File.Exists(Host("fr/inbox/report.txt")));
        File.Move(Host("fr/report.moved"), Host("fr/inbox/report.txt"));

        // With rights that cover the file grant's (rw on the folder), the same exchange is the guest's to make.
        fixture.Dirs.Write("fw/inbox/report.txt", "report\n");
        fixture.Dirs.Write("fw/draft/report.txt", "draft\n");
        await fixture.GrantAsync("fw", "fw", "rw");
        await fixture.GrantAsync("fw", "fw/inbox/report.txt", "ro");
        Assert.Equal(Errno.OK, Rename2(Path.Combine(View("fw"), "fw", "draft", "report.txt"), Path.Combine(View("fw"), "fw", "inbox", "report.txt"), RENAME_EXCHANGE));
        Assert.Equal("draft\n", File.ReadAllText(Host("fw/inbox/report.txt")));
        var denials = await fixture.DenialsAsync("fr");
        Assert.Contains(denials, r => r.Detail!.StartsWith("rename-onto-file-grant", StringComparison.Ordinal));
        Assert.Contains(denials, r => r.Detail!.StartsWith("link-onto-file-grant", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NestingThroughAView_StopsAtPathMax_AndTheBrokersMemoryStaysFlat()
    {
        var a = fixture.NewArea("deep");
        await fixture.GrantAsync("deep", a, "rw");
        var rssBefore = BrokerRssMb();
        Assert.Equal(Errno.OK, Open(Path.Combine(View("deep"), a), O_RDONLY | O_DIRECTORY, out var dir));
        var depth = 0;
        var name = Z("d");
        Errno e;
        try
        {
            // One-letter names: "a/d/d/…"; the view path may not pass PATH_MAX (4095 bytes).
            while ((e = MkdirAt(dir, name)) == Errno.OK && depth < 3000)
            {
                depth++;
                Assert.Equal(Errno.OK, OpenAt(dir, name, O_RDONLY | O_DIRECTORY, 0, out var next));
                Close(dir);
                dir = next;
            }

            // A refused operation at the bottom costs a name, not a path.
            Assert.Equal(Errno.EPERM, Chmod($"/proc/self/fd/{dir}", 0x9ED)); // 04755: setuid
        }
        finally
        {
            Close(dir);
        }

        var rssAfter = BrokerRssMb();
        output.WriteLine($"nesting stopped at depth {depth} with {e}; broker RSS {rssBefore} → {rssAfter} MB");
        // rm walks a tree deeper than PATH_MAX with fds; .NET's recursive delete cannot.
        using (var rm = Process.Start("rm", ["-rf", Host($"{a}/d")])!)
        {
            rm.WaitForExit();
        }

        Assert.Equal(Errno.ENAMETOOLONG, e);
        Assert.InRange(a.Length + (2 * depth), 4000, 4095);
        Assert.InRange(rssAfter - rssBefore, -1000, 64);
    }

    [Fact]
    public async Task HardLinks_TwoNamesOfOneFile_AreOneInode_ToTheKernel()
    {
        var a = fixture.NewArea("links");
        await fixture.GrantAsync("links", a, "rw");
        var v = Path.Combine(View("links"), a);
        var first = Path.Combine(v, "first.txt");
        var second = Path.Combine(v, "second.txt");
        File.WriteAllText(first, "one\n");
        Assert.Equal(Errno.OK, Open(first, O_RDONLY, out var reader));
        try
        {
            Assert.Equal(Errno.OK, ReadText(reader, out var before));
            Assert.Equal("one\n", before);
            Assert.Equal(Errno.OK, StatPath(first, out var st1));
            Assert.Equal(1u, st1.Nlink);

            Assert.Equal(Errno.OK, Link(first, second));

            // The new name is the same inode: its link count and change time show at once on the old name too.
            Assert.Equal(Errno.OK, StatPath(first, out st1));
            Assert.Equal(Errno.OK, StatPath(second, out var st2));
            Assert.Equal(st1.Ino, st2.Ino);
            Assert.Equal(2u, st1.Nlink);

            // A write through one name is read through a file already open on the other.
            Assert.Equal(Errno.OK, Open(second, O_WRONLY | O_TRUNC, out var writer));
            Assert.Equal(Errno.OK, PWrite(writer, "two\n"u8, 0));
            Close(writer);
            Assert.Equal(Errno.OK, ReadText(reader, out var after));
            Assert.Equal("two\n", after);
        }
        finally
        {
            Close(reader);
        }
    }

    private static (int Code, string Output, string Error) AsNobody(string? workingDirectory, string program, params string[] args)
    {
        var info = new ProcessStartInfo("setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "/",
        };
        foreach (var arg in (string[])["--reuid", Nobody, "--regid", Nobody, "--clear-groups", "--", program, .. args])
        {
            info.ArgumentList.Add(arg);
        }

        using var p = Process.Start(info)!;
        var error = p.StandardError.ReadToEndAsync();
        var text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, text, error.GetAwaiter().GetResult());
    }

    private int BrokerFds() => Directory.GetFiles($"/proc/{fixture.Broker.Pid}/fd").Length;

    private long BrokerRssMb()
    {
        var line = File.ReadLines($"/proc/{fixture.Broker.Pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }

    private static int ProcLimit(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        return int.Parse(line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Sets another process's soft fd limit (prlimit from util-linux), leaving the hard limit.</summary>
    private static void Prlimit(int pid, int soft)
    {
        using var p = Process.Start("prlimit", ["--pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), $"--nofile={soft}:"])!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
