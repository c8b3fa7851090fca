namespace Spectrum.Broker.Portal.Wire;

/// <summary>What <see cref="LineFramer.Read"/> found.</summary>
public enum LineStatus
{
    /// <summary>The input is used up; feed the next chunk.</summary>
    NeedMoreData,

    /// <summary>A complete, non-empty line.</summary>
    Line,

    /// <summary>A line longer than the limit: reported once, its bytes dropped up to its newline.</summary>
    TooLong,
}

/// <summary>
/// Splits a byte stream into newline-terminated lines, without I/O: the caller feeds whatever
/// chunks its reads return. A trailing <c>\r</c> is dropped, empty lines are skipped, and at most
/// <c>maxLineBytes</c> are ever buffered: a longer line is reported once as
/// <see cref="LineStatus.TooLong"/> and its remaining bytes are discarded up to the next newline,
/// so a VM that never sends a newline costs a bounded buffer, not memory without end.
/// </summary>
/// <example>
/// <code>
/// var input = chunk;
/// while (framer.Read(ref input, out var line) is var status and not LineStatus.NeedMoreData) { ... }
/// </code>
/// </example>
public sealed class LineFramer
{
    private readonly int _max;
    private byte[]? _buffer;
    private int _count;
    private bool _discarding;

    /// <param name="maxLineBytes">Bytes before the newline, a trailing <c>\r</c> included.</param>
    public LineFramer(int maxLineBytes = PortalLimits.MaxLineBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLineBytes);
        _max = maxLineBytes;
    }

    /// <summary>Bytes held of an unfinished line (never more than the limit).</summary>
    public int Buffered => _count;

    /// <summary>
    /// Consumes <paramref name="input"/> up to the next line or problem. The returned line points
    /// into the input or into this framer's buffer and is valid until the next call.
    /// </summary>
    public LineStatus Read(ref ReadOnlySpan<byte> input, out ReadOnlySpan<byte> line)
    {
        line = default;
        while (!input.IsEmpty)
        {
            var newline = input.IndexOf((byte)'\n');
            if (_discarding)
            {
                if (newline < 0)
                {
                    input = default;
                    return LineStatus.NeedMoreData;
                }

                input = input[(newline + 1)..];
                _discarding = false;
                continue;
            }

            if (newline < 0)
            {
                if (input.Length > _max - _count)
                {
                    _count = 0;
                    _discarding = true;
                    input = default;
                    return LineStatus.TooLong;
                }

                _buffer ??= new byte[_max];
                input.CopyTo(_buffer.AsSpan(_count));
                _count += input.Length;
                input = default;
                return LineStatus.NeedMoreData;
            }

            var segment = input[..newline];
            input = input[(newline + 1)..];
            ReadOnlySpan<byte> whole;
            if (_count == 0)
            {
                whole = segment;
            }
            else
            {
                if (segment.Length > _max - _count)
                {
                    _count = 0;
                    return LineStatus.TooLong;
                }

                segment.CopyTo(_buffer.AsSpan(_count));
                whole = _buffer.AsSpan(0, _count + segment.Length);
                _count = 0;
            }

            if (whole.Length > _max)
            {
                return LineStatus.TooLong;
            }

            if (!whole.IsEmpty && whole[^1] == (byte)'\r')
            {
                whole = whole[..^1];
            }

            if (whole.IsEmpty)
            {
                continue;
            }

            line = whole;
            return LineStatus.Line;
        }

        return LineStatus.NeedMoreData;
    }
}
