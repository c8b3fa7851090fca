using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// Grants whose shape the view must get right on a real mount: a file grant whose file is briefly
/// absent (an editor's save: unlink, then create), and a grant of the whole tree (path ".").
/// </summary>
public sealed class ViewGrantShapeTests(ViewSecFixture fixture) : IClassFixture<ViewSecFixture>
{
    private string View(string vm) => fixture.View(vm);

    private string Host(string relative) => fixture.Host(relative);

    [Fact]
    public async Task FileGrant_FileBrieflyAbsent_IsEnoentMeanwhile_ThenServedAgain_NeverStale()
    {
        var a = fixture.NewArea("gap");
        var grant = await fixture.GrantAsync("gap", $"{a}/inside.txt", "rw");
        var v = Path.Combine(View("gap"), a, "inside.txt");
        Assert.Equal(Errno.OK, ReadFile(v, out var before));
        Assert.Equal("inside\n", before);

        // The editor removes the file and has not written the new one yet; the guest looks (after
        // the kernel's cached entry, 1 s, has run out, so that the view is asked).
        File.Delete(Host($"{a}/inside.txt"));
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        Assert.Equal(Errno.ENOENT, LStat(v, out _));

        // The new file is there: the very next lookup finds it (no negative entry was cached).
        File.WriteAllText(Host($"{a}/inside.txt"), "saved\n");
        Assert.Equal(Errno.OK, ReadFile(v, out var after));
        Assert.Equal("saved\n", after);
        Assert.Equal(Errno.OK, PWriteFile(v, "edited\n"));
        Assert.Equal("edited\n", File.ReadAllText(Host($"{a}/inside.txt")));
        Assert.Equal([a], List(View("gap")));

        Assert.Equal("active", (await fixture.Client.ShowAsync(grant.Id)).State);
        Assert.DoesNotContain(await fixture.Client.AuditAsync(), r => r.Action == "stale" && r.GrantId == grant.Id);
    }

    [Fact]
    public async Task FileGrant_ItsDirectoryReplaced_IsStale()
    {
        // The other side of the rule: the file grant is checked against its directory.
        var a = fixture.NewArea("dirgone");
        var grant = await fixture.GrantAsync("dirgone", $"{a}/Work/notes.txt", "rw");
        var v = Path.Combine(View("dirgone"), a, "Work", "notes.txt");
        Directory.Move(Host($"{a}/Work"), Host($"{a}/Work.old"));
        fixture.Dirs.Write($"{a}/Work/notes.txt", "another directory\n");
        await Task.Delay(TimeSpan.FromSeconds(1.2));

        Assert.Equal(Errno.ENOENT, ReadFile(v, out _));
        await ViewSecFixture.WaitUntilAsync(async () => (await fixture.Client.ShowAsync(grant.Id)).State == "stale", "the grant to be recorded stale");
    }

    [Fact]
    public async Task WholeTreeGrant_TheViewRootIsTheTreeRoot_NestedGrantsAddRights_AndRevokingItLeavesThem()
    {
        var a = fixture.NewArea("whole");
        await fixture.GrantAsync("whole", $"{a}/Work", "rw");
        var v = View("whole");

        // Before the whole-tree grant: the guest looks for names it cannot see, and its kernel
        // caches the answers (negative entries, 1 s).
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, $"{a}-private"), out _));
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "Documents"), out _));
        var whole = await fixture.GrantAsync("whole", ".", "ro");

        // Everything in the tree, at its place, read-only, at once (the cached negative entries
        // were dropped with the grant).
        Assert.Equal(Errno.OK, LStat(Path.Combine(v, $"{a}-private"), out _));
        Assert.Equal(Errno.OK, LStat(Path.Combine(v, "Documents"), out _));
        Assert.Equal(List(fixture.Dirs.Tree), List(v));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, $"{a}-private", "notes.txt"), out var secret));
        Assert.Equal("SECRET\n", secret);
        Assert.Equal(Errno.OK, StatPath(v, out var root));
        Assert.Equal(Errno.OK, StatPath(fixture.Dirs.Tree, out var tree));
        Assert.Equal(tree.Ino, root.Ino);
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, "new.txt"), O_WRONLY | O_CREAT));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, a, "inside.txt"), O_WRONLY));
        Assert.Equal(Errno.EACCES, Mkdir(Path.Combine(v, "made")));

        // The nested grant adds its rights below it, and only there.
        Assert.Equal(Errno.OK, TryOpen(Path.Combine(v, a, "Work", "new.txt"), O_WRONLY | O_CREAT));
        Assert.True(File.Exists(Host($"{a}/Work/new.txt")));
        Assert.Equal(Errno.EACCES, TryOpen(Path.Combine(v, a, "new.txt"), O_WRONLY | O_CREAT));

        // Without the whole-tree grant, the view shows the nested grant alone, under synthesized ancestors.
        await fixture.Client.RevokeAsync(whole.Id);
        Assert.Equal([a], List(v));
        Assert.Equal([a], List(v)); // twice: the root's listing is not cached
        Assert.Equal(["Work"], List(Path.Combine(v, a)));
        Assert.Equal(Errno.ENOENT, ReadFile(Path.Combine(v, $"{a}-private", "notes.txt"), out _));
        Assert.Equal(Errno.ENOENT, ReadFile(Path.Combine(v, a, "inside.txt"), out _));
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, a, "Work", "notes.txt"), out var notes));
        Assert.Equal("notes\n", notes);
        Assert.Equal(1, ViewSecFixture.MountCount(v));

        Assert.False(File.Exists(Host("new.txt")));
        Assert.False(File.Exists(Host($"{a}/new.txt")));
    }

    private static Errno PWriteFile(string path, string text)
    {
        var e = Open(path, O_WRONLY | O_TRUNC, out var fd);
        if (e != Errno.OK)
        {
            return e;
        }

        try
        {
            return PWrite(fd, System.Text.Encoding.UTF8.GetBytes(text), 0);
        }
        finally
        {
            Close(fd);
        }
    }
}
