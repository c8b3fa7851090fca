using Microsoft.Extensions.Time.Testing;
using Spectrum.Broker.Portal.Wire;

namespace Spectrum.Broker.Tests.Portal;

public sealed class TokenBucketTests
{
    private static int Drain(ref TokenBucket bucket, long now)
    {
        var taken = 0;
        while (bucket.TryTake(now) && taken < 1_000)
        {
            taken++;
        }

        return taken;
    }

    [Fact]
    public void Starts_Full_ThenRefillsAtTheRate_NeverAboveTheBurst()
    {
        var clock = new FakeTimeProvider();
        var bucket = TokenBucket.ForPortal(clock);
        Assert.Equal(PortalLimits.Burst, Drain(ref bucket, clock.GetTimestamp()));

        clock.Advance(TimeSpan.FromMilliseconds(199));
        Assert.False(bucket.TryTake(clock.GetTimestamp()));
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(bucket.TryTake(clock.GetTimestamp()));
        Assert.False(bucket.TryTake(clock.GetTimestamp()));

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(PortalLimits.RequestsPerSecond, Drain(ref bucket, clock.GetTimestamp()));

        clock.Advance(TimeSpan.FromDays(3650));
        Assert.Equal(PortalLimits.Burst, Drain(ref bucket, clock.GetTimestamp()));
    }

    [Fact]
    public void ClockGoingBackwards_AddsNothing()
    {
        var bucket = new TokenBucket(5, 1, 1_000_000, 1_000);
        Assert.True(bucket.TryTake(1_000_000));
        Assert.False(bucket.TryTake(0));
        Assert.False(bucket.TryTake(1_000_000));
        Assert.True(bucket.TryTake(1_000_200));
    }

    [Fact]
    public void HugeIdleGap_DoesNotOverflow()
    {
        var bucket = new TokenBucket(PortalLimits.RequestsPerSecond, PortalLimits.Burst, long.MinValue, 1_000_000_000);
        Assert.Equal(PortalLimits.Burst, Drain(ref bucket, long.MinValue));
        Assert.Equal(PortalLimits.Burst, Drain(ref bucket, long.MaxValue));
    }
}
