using Spectrum.Interop;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// Expiry on the data path, without the sweeper: the real broker is hosted in this process on a
/// clock whose timers never fire, so the expiry sweep that would revoke the grant never runs. What
/// the tests see is the view alone refusing the grant the moment the clock passes its expiry, and
/// the kernel caching nothing about it beyond that moment.
/// </summary>
public sealed class ViewExpiryTests : IAsyncLifetime
{
    private readonly TestDirs _dirs = new();
    private readonly HeldClock _clock = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private InProcessBroker _broker = null!;
    private BrokerClient _client = null!;

    private string View(string vm) => ViewSecFixture.ViewPath(_dirs, vm);

    public async Task InitializeAsync()
    {
        _broker = await InProcessBroker.StartAsync(_dirs, _clock);
        _client = _broker.Client;
    }

    public async Task DisposeAsync()
    {
        await _broker.DisposeAsync();
        _dirs.Dispose();
    }

    private async Task<GrantDto> GrantAsync(string vm, string path, string rights, string expires)
    {
        var created = await _client.GrantAsync(vm, path, rights, expires);
        await ViewSecFixture.WaitMountedAsync(_dirs, vm);
        await ViewSecFixture.WaitUntilAsync(() => LStat(Path.Combine(View(vm), path), out _) == Errno.OK, $"{path} in the view of {vm}");
        return created.Grant;
    }

    [Fact]
    public async Task Expiry_TheViewRefusesAtOnce_WithoutWaitingForTheSweep()
    {
        await GrantAsync("temp", "Documents", "rw", "1h");
        var v = View("temp");
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Documents", "report.odt"), O_RDONLY, out var reader));
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Documents", "Work", "notes.txt"), O_RDWR, out var writer));
        Assert.Equal(Errno.OK, Open(Path.Combine(v, "Documents", "Work"), O_PATH | O_DIRECTORY, out var dir));
        try
        {
            Assert.Equal(Errno.OK, ReadText(reader, out var text));
            Assert.Equal("report\n", text);
            Assert.Equal(Errno.OK, PWrite(writer, "n"u8, 0));
            Assert.Equal(["Documents"], List(v));

            _clock.Advance(TimeSpan.FromHours(1));

            // The very next operations: open handles, lookups below cached entries, the listing.
            Assert.NotEqual(Errno.OK, PWrite(writer, "x"u8, 0));
            Assert.NotEqual(Errno.OK, OpenAt(dir, "notes.txt", O_RDONLY, 0, out _));
            Assert.Equal(Errno.ENOENT, TryOpen(Path.Combine(v, "Documents", "new.txt"), O_WRONLY | O_CREAT));
            Assert.Empty(List(v));

            // Once the kernel's entry for the grant root times out (1 s), the root is gone too.
            await Task.Delay(TimeSpan.FromSeconds(1.2));
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "Documents"), out _));

            // The sweep never ran: all of the above is the view's own doing.
            Assert.Empty(await _client.AuditAsync("&action=expire"));

            // A clock set back does not bring the grant back.
            _clock.Advance(TimeSpan.FromHours(-2));
            Assert.Equal(Errno.ENOENT, LStat(Path.Combine(v, "Documents"), out _));
            Assert.NotEqual(Errno.OK, PWrite(writer, "y"u8, 0));
            Assert.Empty(List(v));
        }
        finally
        {
            Close(reader);
            Close(writer);
            Close(dir);
        }

        Assert.Equal("notes\n", File.ReadAllText(Path.Combine(_dirs.Tree, "Documents", "Work", "notes.txt")));
        Assert.False(File.Exists(Path.Combine(_dirs.Tree, "Documents", "new.txt")));
    }

    [Fact]
    public async Task Expiry_TheKernelCachesNoEntryOrAttributeBeyondIt()
    {
        await GrantAsync("soon", "Pictures", "ro", "1h");
        var picture = Path.Combine(View("soon"), "Pictures", "wallpaper.png");

        // Let what the grant's own wait cached time out, then look again 300 ms before the expiry.
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        _clock.Advance(TimeSpan.FromHours(1) - TimeSpan.FromMilliseconds(300));
        Assert.Equal(Errno.OK, LStat(picture, out _));

        // Past the expiry, and past what the view let the kernel cache (300 ms, not the usual 1 s).
        _clock.Advance(TimeSpan.FromMilliseconds(400));
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Equal(Errno.ENOENT, LStat(picture, out _));
        Assert.Equal(Errno.ENOENT, LStat(Path.Combine(View("soon"), "Pictures"), out _));
    }
}

/// <summary>
/// A wall clock the test moves (forward or back), whose timers never fire: whatever the broker
/// schedules on it (the expiry sweep, the denial flush) never runs.
/// </summary>
internal sealed class HeldClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new Never();

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    private sealed class Never : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
