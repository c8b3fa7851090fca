using Microsoft.Extensions.Time.Testing;

namespace Spectrum.Broker.Tests;

/// <summary>
/// The real broker hosted in-process on a real socket and SQLite file, with a fake clock, so that
/// expiry and clock rollback are exercised without waiting.
/// </summary>
public sealed class ClockTests : IAsyncLifetime
{
    private readonly TestDirs _dirs = new();
    private readonly RollbackClock _clock = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private InProcessBroker _broker = null!;
    private BrokerClient _client = null!;

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

    private async Task WaitForAuditAsync(string action, int count)
    {
        for (var i = 0; i < 200 && (await _client.AuditAsync($"&action={action}")).Count < count; i++)
        {
            await Task.Delay(25);
        }
    }

    [Fact]
    public async Task Expiry_WhenTheClockPassesIt_EndsTheGrantAndAuditsExpire()
    {
        var created = await _client.GrantAsync("editor", "Documents", "ro", "1h");
        Assert.Equal(_clock.GetUtcNow().AddHours(1), created.Grant.ExpiresAt);

        _clock.Advance(TimeSpan.FromMinutes(59));
        Assert.Single(await _client.WhoCanAsync("Documents").ContinueWith(t => t.Result.Entries));

        _clock.Advance(TimeSpan.FromMinutes(1));
        await WaitForAuditAsync("expire", 1);

        var expire = Assert.Single(await _client.AuditAsync("&action=expire"));
        Assert.Equal(created.Grant.Id, expire.GrantId);
        Assert.Equal("broker", expire.Actor);
        Assert.Equal("expired", (await _client.ShowAsync(created.Grant.Id)).State);
        Assert.Empty((await _client.WhoCanAsync("Documents")).Entries);
    }

    [Fact]
    public async Task Expiry_ExactlyAtTheBoundary_TheGrantNoLongerCounts()
    {
        var created = await _client.GrantAsync("editor", "Documents", "ro", "30m");

        _clock.Advance(TimeSpan.FromMinutes(30));

        // Reads treat a grant at its expiry as ended even before the sweep has written it.
        Assert.Empty((await _client.WhoCanAsync("Documents")).Entries);
        Assert.Empty(await _client.ListAsync());
        await WaitForAuditAsync("expire", 1);
        Assert.Equal("expired", (await _client.ShowAsync(created.Grant.Id)).State);
    }

    [Fact]
    public async Task ClockRollback_DoesNotBringAnExpiredGrantBack()
    {
        var created = await _client.GrantAsync("editor", "Documents", "ro", "10m");
        _clock.Advance(TimeSpan.FromMinutes(11));
        await WaitForAuditAsync("expire", 1);
        await _client.GrantAsync("viewer", "Pictures", "ro");

        _clock.SetUtcNow(_clock.GetUtcNow().AddHours(-2));

        Assert.Equal("expired", (await _client.ShowAsync(created.Grant.Id)).State);
        Assert.DoesNotContain(await _client.ListAsync(), g => g.Id == created.Grant.Id);
        // New records are never stamped earlier than the last one: the store keeps a high-water mark.
        var later = await _client.GrantAsync("viewer", "Downloads", "ro", "5m");
        var records = await _client.AuditAsync();
        Assert.True(records[^1].Time >= records[^2].Time);
        Assert.True(later.Grant.ExpiresAt > created.Grant.ExpiresAt);
    }

    [Fact]
    public async Task Delegation_ExpiresNoLaterThanItsParent()
    {
        var parent = await _client.GrantAsync("editor", "Documents", "rw,grant", "1h", token: true);

        var child = await _client.RedeemAsync(parent.Token!, "viewer", "Documents/Work", "ro");

        Assert.Equal("delegation", child.Source);
        Assert.Equal(parent.Grant.Id, child.Parent);
        Assert.Equal(parent.Grant.ExpiresAt, child.ExpiresAt);
        _clock.Advance(TimeSpan.FromHours(1));
        await WaitForAuditAsync("expire", 2);
        Assert.Equal("expired", (await _client.ShowAsync(child.Id)).State);
    }
}

/// <summary>A fake clock that, unlike <see cref="FakeTimeProvider"/>, can be set back (an admin or NTP stepping the clock).</summary>
public sealed class RollbackClock(DateTimeOffset start) : TimeProvider
{
    private readonly FakeTimeProvider _timers = new(start);
    private TimeSpan _offset;

    public override DateTimeOffset GetUtcNow() => _timers.GetUtcNow() + _offset;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        _timers.CreateTimer(callback, state, dueTime, period);

    public void Advance(TimeSpan by) => _timers.Advance(by);

    public void SetUtcNow(DateTimeOffset value) => _offset = value - _timers.GetUtcNow();
}
