namespace Spectrum.Broker.Portal.Wire;

/// <summary>
/// Every bound on what a VM may send or leave unread on its portal channel, in one place. The
/// reader (<see cref="LineFramer"/>, <see cref="PortalWire.Parse"/>) enforces the size limits; the
/// channel enforces the pending, rate and outbound limits with these same constants.
/// </summary>
public static class PortalLimits
{
    /// <summary>
    /// Bytes in one line before its newline (a trailing <c>\r</c> counts). The largest honest
    /// request, 256 filters of a few globs each, is a few KiB; 64 KiB leaves room for long titles
    /// and paths while bounding what one VM can make the broker buffer per channel.
    /// </summary>
    public const int MaxLineBytes = 64 * 1024;

    /// <summary>
    /// JSON nesting levels. The deepest valid request is six (request, params, filters, a filter,
    /// its rules, a rule); eight leaves slack, and anything deeper is refused before it is read
    /// further, so nesting costs no stack or time.
    /// </summary>
    public const int MaxDepth = 8;

    /// <summary>
    /// UTF-8 bytes in any one string after unescaping, paths included: PATH_MAX is 4096 on Linux,
    /// so no real path or name needs more, and no title or label should.
    /// </summary>
    public const int MaxStringBytes = 4096;

    /// <summary>
    /// Items in each array (filters, a filter's rules, choices, a choice's options, files): far
    /// above what a dialog can show, and it bounds the objects one request makes.
    /// </summary>
    public const int MaxArrayItems = 256;

    /// <summary>
    /// Bytes of the JSON-RPC id as raw JSON (quotes and escapes included): the reply echoes it
    /// verbatim and the channel keeps it per pending request, so it must stay small.
    /// </summary>
    public const int MaxIdBytes = 128;

    /// <summary>
    /// Requests one VM may have waiting on the host at once: a person answers one dialog at a
    /// time, and a VM must not stack dialogs on the host's screen.
    /// </summary>
    public const int MaxPendingPerVm = 4;

    /// <summary>Sustained requests per second per VM (token bucket refill): far above a person clicking.</summary>
    public const int RequestsPerSecond = 5;

    /// <summary>Token bucket size per VM: a burst of closes and reopens at start-up passes, a flood does not.</summary>
    public const int Burst = 20;

    /// <summary>
    /// Bytes of replies queued for a VM that does not read them. A reply is at most a few hundred
    /// KiB (256 URIs of 4 KiB would be 1 MiB, but a dialog answers a handful); past this the
    /// reader is too slow or is not reading, and its channel is closed rather than buffering more.
    /// </summary>
    public const int MaxOutboundBytes = 256 * 1024;
}
