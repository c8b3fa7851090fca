using System.Diagnostics;
using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// SECURITY-TESTS.md D (races) on the real mount: bounded loops with an attacker thread on the
/// host while this process reads through the view. Every area's ungranted sibling holds the same
/// names with the content SECRET; an escape is any read through the view that returns it.
/// </summary>
public sealed class ViewSecRaceTests(ViewSecFixture fixture) : IClassFixture<ViewSecFixture>
{
    private const int Rounds = 2000;

    private string View(string vm) => fixture.View(vm);

    private string Host(string relative) => fixture.Host(relative);

    /// <summary>Runs <paramref name="attack"/> <see cref="Rounds"/> times on a thread while readers read the paths; returns (escapes, successes, failures).</summary>
    private static async Task<(int Escapes, int Ok, int Failed)> RaceAsync(Action attack, params string[] paths)
    {
        var done = 0;
        var escapes = 0;
        var ok = 0;
        var failed = 0;
        using var readersStarted = new CountdownEvent(paths.Length);
        var attacker = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    // A loaded machine may start the readers late: the attack only counts while they read.
                    readersStarted.Wait();
                    for (var i = 0; i < Rounds; i++)
                    {
                        attack();
                    }
                }
                finally
                {
                    Volatile.Write(ref done, 1);
                }
            },
            TaskCreationOptions.LongRunning);
        var readers = paths.Select(path => Task.Factory.StartNew(
            () =>
            {
                var first = true;
                while (first || Volatile.Read(ref done) == 0)
                {
                    if (ReadFile(path, out var text) == Errno.OK)
                    {
                        Interlocked.Increment(ref ok);
                        if (text.Contains("SECRET", StringComparison.Ordinal))
                        {
                            Interlocked.Increment(ref escapes);
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref failed);
                    }

                    if (first)
                    {
                        first = false;
                        readersStarted.Signal();
                    }
                }
            },
            TaskCreationOptions.LongRunning)).ToArray();
        await attacker;
        await Task.WhenAll(readers);
        return (escapes, ok, failed);
    }

    private static void Exchange(string a, string b) => Assert.Equal(Errno.OK, Rename2(a, b, RENAME_EXCHANGE));

    private async Task AssertStaleAsync(string vm, GrantDto grant, string path)
    {
        await ViewSecFixture.WaitUntilAsync(async () => (await fixture.Client.ListAsync(vm, all: true)).Single(g => g.Id == grant.Id).State == "stale", "the grant to be reported stale");
        await ViewSecFixture.WaitUntilAsync(async () => (await fixture.Client.AuditAsync()).Any(r => r.Action == "stale" && r.GrantId == grant.Id), "a stale audit record");
        var stale = (await fixture.Client.AuditAsync()).Where(r => r.Action == "stale" && r.GrantId == grant.Id).ToList();
        Assert.Equal(vm, Assert.Single(stale).Vm);
        Assert.Equal(path, stale[0].Path);
    }

    [Fact]
    public async Task RenameExchange_OfAGrantRootWithAnOutsideDirectory_NeverShowsTheOutside()
    {
        var a = fixture.NewArea("xchg");
        var grant = await fixture.GrantAsync("xchg", a, "ro");
        var v = Path.Combine(View("xchg"), a);
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, "inside.txt"), out var before));
        Assert.Equal("inside\n", before);

        var (escapes, ok, failed) = await RaceAsync(
            () => Exchange(Host(a), Host($"{a}-private")),
            Path.Combine(v, "inside.txt"),
            Path.Combine(v, "Work", "notes.txt"));

        Assert.Equal(0, escapes);
        Assert.True(ok + failed > 0);

        // An even number of exchanges puts everything back; make sure a lookup has met the swapped
        // state at least once (after the kernel's cache time), then put it back again.
        Assert.Equal("inside\n", File.ReadAllText(Host($"{a}/inside.txt")));
        await Task.Delay(1200);
        Exchange(Host(a), Host($"{a}-private"));
        Assert.NotEqual("SECRET\n", ReadFile(Path.Combine(v, "inside.txt"), out var swapped) == Errno.OK ? swapped : "");
        Exchange(Host(a), Host($"{a}-private"));

        // The identity check caught the replaced root: stale, reported, and never re-pointed even
        // now that the original directory is back in its place.
        await AssertStaleAsync("xchg", grant, a);
        await Task.Delay(1200);
        Assert.Equal(Errno.ENOENT, ReadFile(Path.Combine(v, "inside.txt"), out _));
        Assert.Equal(Errno.ENOENT, LStat(v, out _));
        Assert.Empty(List(View("xchg")));
    }

    [Fact]
    public async Task SymlinkSwap_BetweenLookupAndUse_NeverFollowsOnTheHost()
    {
        var a = fixture.NewArea("swap");
        Assert.Equal(Errno.OK, Symlink($"../{a}-private/Work", Host($"{a}/.swapdir")));
        Assert.Equal(Errno.OK, Symlink($"../{a}-private/notes.txt", Host($"{a}/.swapfile")));
        File.WriteAllText(Host($"{a}/notes.txt"), "notes\n");
        var grant = await fixture.GrantAsync("swap", a, "ro");
        var v = Path.Combine(View("swap"), a);

        // A directory fd opened before the race keeps naming the very directory it resolved.
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Work"), O_PATH | O_DIRECTORY, out var held));
        var heldEscapes = 0;
        try
        {
            var (escapes, ok, _) = await RaceAsync(
                () =>
                {
                    Exchange(Host($"{a}/Work"), Host($"{a}/.swapdir"));
                    Exchange(Host($"{a}/notes.txt"), Host($"{a}/.swapfile"));
                    if (OpenAt(held, "notes.txt", O_RDONLY, 0, out var fd) == Errno.OK)
                    {
                        if (ReadText(fd, out var text) == Errno.OK && text.Contains("SECRET", StringComparison.Ordinal))
                        {
                            Interlocked.Increment(ref heldEscapes);
                        }

                        Close(fd);
                    }
                },
                Path.Combine(v, "Work", "notes.txt"),
                Path.Combine(v, "notes.txt"));

            Assert.Equal(0, escapes);
            Assert.Equal(0, heldEscapes);
            Assert.True(ok > 0);
        }
        finally
        {
            Close(held);
        }

        // The swaps were inside the grant: it stays active, and the host outside is untouched.
        Assert.Equal("active", (await fixture.Client.ShowAsync(grant.Id)).State);
        Assert.Equal("SECRET\n", File.ReadAllText(Host($"{a}-private/Work/notes.txt")));
    }

    [Fact]
    public async Task GrantRootReplacedWhileInUse_BecomesStale_IsReported_AndIsNeverRePointed()
    {
        var a = fixture.NewArea("repl");
        var grant = await fixture.GrantAsync("repl", a, "rw");
        var v = Path.Combine(View("repl"), a);
        Assert.Equal(Errno.OK, ReadFile(Path.Combine(v, "inside.txt"), out var text));
        Assert.Equal("inside\n", text);

        Directory.Move(Host(a), Host($"{a}-moved"));
        Directory.CreateDirectory(Host(a));
        File.WriteAllText(Host($"{a}/inside.txt"), "SECRET\n");

        // Until the kernel asks again the view may still serve the granted directory (by its fd);
        // it never serves the replacement.
        var clock = Stopwatch.StartNew();
        while (ReadFile(Path.Combine(v, "inside.txt"), out text) == Errno.OK)
        {
            Assert.Equal("inside\n", text);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "the replaced grant root is still served");
            await Task.Delay(20);
        }

        await AssertStaleAsync("repl", grant, a);
        Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "new.txt"), O_WRONLY | O_CREAT));
        Assert.False(File.Exists(Host($"{a}/new.txt")));

        // Put the original back: still stale, still absent.
        Directory.Delete(Host(a), recursive: true);
        Directory.Move(Host($"{a}-moved"), Host(a));
        await Task.Delay(1200);
        Assert.Equal(Errno.ENOENT, LStat(v, out _));
        Assert.Empty(List(View("repl")));
        Assert.Equal("stale", (await fixture.Client.ShowAsync(grant.Id)).State);
        Assert.Single(await fixture.Client.AuditAsync(), r => r.Action == "stale" && r.GrantId == grant.Id);
    }

    [Fact]
    public async Task FileGrant_AtomicSaveByRename_KeepsWorking()
    {
        var a = fixture.NewArea("save");
        var grant = await fixture.GrantAsync("save", $"{a}/inside.txt", "rw");
        var v = Path.Combine(View("save"), a, "inside.txt");

        File.WriteAllText(Host($"{a}/.inside.txt.tmp"), "saved\n");
        File.Move(Host($"{a}/.inside.txt.tmp"), Host($"{a}/inside.txt"), overwrite: true);
        await ViewSecFixture.WaitUntilAsync(() => ReadFile(v, out var t) == Errno.OK && t == "saved\n", "the saved content through the view");
        Assert.Equal("active", (await fixture.Client.ShowAsync(grant.Id)).State);
    }

    [Fact]
    public async Task RevokeDuringOperations_NoOperationStartedAfterTheRevokeSucceeds()
    {
        var a = fixture.NewArea("rvk");
        var grant = await fixture.GrantAsync("rvk", a, "rw");
        var v = Path.Combine(View("rvk"), a);
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "inside.txt"), O_RDONLY, out var reader));
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Work", "notes.txt"), O_WRONLY, out var writer));
        var log = new System.Collections.Concurrent.ConcurrentBag<(string Op, long Start, long End, bool Ok)>();
        var stop = 0;

        void Loop(string op, Func<bool> operation) => Task.Factory.StartNew(
            () =>
            {
                while (Volatile.Read(ref stop) == 0)
                {
                    var start = Stopwatch.GetTimestamp();
                    var ok = operation();
                    log.Add((op, start, Stopwatch.GetTimestamp(), ok));
                }
            },
            TaskCreationOptions.LongRunning);

        Loop("open+read", () => ReadFile(Path.Combine(v, "inside.txt"), out _) == Errno.OK);
        Loop("pread", () => PRead(reader, new byte[64], 0, out _) == Errno.OK);
        Loop("pwrite", () => PWrite(writer, "x"u8, 0) == Errno.OK);
        Loop("stat", () => LStat(Path.Combine(v, "Work"), out _) == Errno.OK);
        Loop("create", () =>
        {
            var name = Path.Combine(v, $"c{Stopwatch.GetTimestamp()}");
            return TryOpen(name, O_WRONLY | O_CREAT | O_EXCL) == Errno.OK;
        });

        await Task.Delay(300);
        await fixture.Client.RevokeAsync(grant.Id);
        var revoked = Stopwatch.GetTimestamp();
        await Task.Delay(300);
        Volatile.Write(ref stop, 1);
        await Task.Delay(100);
        Close(reader);
        Close(writer);

        var entries = log.ToList();
        foreach (var op in (string[])["open+read", "pread", "pwrite", "stat", "create"])
        {
            Assert.Contains(entries, e => e.Op == op && e.Ok && e.End < revoked);
            Assert.Contains(entries, e => e.Op == op && e.Start > revoked);
        }

        var late = entries.Where(e => e.Start > revoked && e.Ok).Select(e => e.Op).Distinct().ToList();
        Assert.True(late.Count == 0, $"operations that started after the revoke returned still succeeded: {string.Join(", ", late)}");
    }
}
