namespace Spectrum.Broker.Portal.Wire;

/// <summary>
/// A token bucket over <see cref="TimeProvider"/> timestamps: <c>burst</c> tokens, refilled at
/// <c>ratePerSecond</c>, one per request. Pure (the caller passes the time) and integer-only:
/// tokens are counted in timestamp ticks, so no rounding drifts and nothing overflows however
/// long the bucket sits unused. A mutable struct: keep it in a field, never a copy.
/// </summary>
public struct TokenBucket
{
    private readonly long _cost;
    private readonly long _rate;
    private readonly long _capacity;
    private long _level;
    private long _last;

    /// <param name="ratePerSecond">Tokens added per second.</param>
    /// <param name="burst">Bucket size; the bucket starts full.</param>
    /// <param name="now">The current timestamp (<see cref="TimeProvider.GetTimestamp"/>).</param>
    /// <param name="frequency">Timestamp ticks per second (<see cref="TimeProvider.TimestampFrequency"/>).</param>
    public TokenBucket(int ratePerSecond, int burst, long now, long frequency)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(burst);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frequency);
        _cost = frequency;
        _rate = ratePerSecond;
        _capacity = checked(burst * frequency);
        _level = _capacity;
        _last = now;
    }

    /// <summary>The portal's bucket (<see cref="PortalLimits.RequestsPerSecond"/>, <see cref="PortalLimits.Burst"/>), full now.</summary>
    public static TokenBucket ForPortal(TimeProvider time) =>
        new(PortalLimits.RequestsPerSecond, PortalLimits.Burst, time.GetTimestamp(), time.TimestampFrequency);

    /// <summary>Takes one token if there is one. A clock that goes backwards adds nothing.</summary>
    public bool TryTake(long now)
    {
        if (now > _last)
        {
            // Refill only what fits, so elapsed * rate cannot overflow after a long idle time.
            // now - _last as unsigned: exact even when the difference does not fit a long.
            var room = (_capacity - _level + _rate - 1) / _rate;
            var elapsed = (long)Math.Min((ulong)now - (ulong)_last, (ulong)room);
            _level = Math.Min(_capacity, _level + (elapsed * _rate));
            _last = now;
        }

        if (_level < _cost)
        {
            return false;
        }

        _level -= _cost;
        return true;
    }
}
