using System.Globalization;
using System.Text;

namespace Spectrum.Broker.State;

/// <summary>
/// The limits that keep the audit log bounded whatever a guest or a local user does (issue 14,
/// item 6: 100,000 denied creates of distinct names once wrote 100,000 rows, one holding a 387 KB
/// path; 10,000 refused API calls from one uid wrote 80 MB in 7 s). All in one place.
/// </summary>
public static class AuditLimits
{
    /// <summary>
    /// A record's <c>path</c> is cut to this many UTF-8 bytes (PATH_MAX: no path the kernel can
    /// resolve in one call is longer), ending in <see cref="CutMark"/>.
    /// </summary>
    public const int MaxPathBytes = 4096;

    /// <summary>A record's <c>detail</c> is cut to this many UTF-8 bytes, ending in <see cref="CutMark"/>.</summary>
    public const int MaxDetailBytes = 1024;

    /// <summary>A denial's sample name, escaped, is at most this many bytes (NAME_MAX).</summary>
    public const int MaxSampleBytes = 255;

    /// <summary>
    /// Distinct (VM, operation, scope) keys the data-path aggregator holds per interval; further
    /// keys are counted into one overflow entry per VM. With <see cref="MaxPathBytes"/> and
    /// <see cref="MaxSampleBytes"/> this bounds its memory to about 4.5 MB, and one interval's
    /// records to this many plus one per VM.
    /// </summary>
    public const int MaxDenialKeysPerInterval = 1024;

    /// <summary>
    /// Distinct uids whose refused control API calls are tracked per interval; further uids are
    /// counted into one overflow entry. Each tracked uid writes at most two records per interval:
    /// its first refusal at once, and a count of the rest at the end of the interval.
    /// </summary>
    public const int MaxRefusedUidsPerInterval = 256;

    /// <summary>What ends a cut text.</summary>
    public const string CutMark = "…";

    /// <summary>
    /// <paramref name="text"/> if it fits in <paramref name="maxBytes"/> UTF-8 bytes; otherwise its
    /// longest prefix (whole characters) that fits with <see cref="CutMark"/> after it.
    /// </summary>
    public static string? Cap(string? text, int maxBytes)
    {
        if (text is null || text.Length <= maxBytes / 3 || Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        var budget = maxBytes - Encoding.UTF8.GetByteCount(CutMark);
        var used = 0;
        var end = 0;
        while (end < text.Length)
        {
            var width = char.IsHighSurrogate(text[end]) && end + 1 < text.Length ? 2 : 1;
            var bytes = Encoding.UTF8.GetByteCount(text.AsSpan(end, width));
            if (used + bytes > budget)
            {
                break;
            }

            used += bytes;
            end += width;
        }

        return string.Concat(text.AsSpan(0, end), CutMark);
    }

    /// <summary>
    /// A name as the audit log shows it: valid UTF-8 kept, every other byte, control characters
    /// and the backslash written as <c>\xNN</c>, cut to <see cref="MaxSampleBytes"/> (ending in
    /// <see cref="CutMark"/>) when longer.
    /// </summary>
    public static string Sample(ReadOnlySpan<byte> name)
    {
        var text = new StringBuilder(Math.Min(name.Length, MaxSampleBytes));
        var budget = MaxSampleBytes - Encoding.UTF8.GetByteCount(CutMark);
        var used = 0;
        while (!name.IsEmpty)
        {
            var status = System.Text.Rune.DecodeFromUtf8(name, out var rune, out var consumed);
            string piece;
            if (status == System.Buffers.OperationStatus.Done && !Rune.IsControl(rune) && rune.Value != '\\')
            {
                piece = rune.ToString();
            }
            else
            {
                // Not UTF-8 (one byte at a time), or a control character or backslash (each of its bytes).
                consumed = status == System.Buffers.OperationStatus.Done ? consumed : 1;
                var escaped = new StringBuilder(4 * consumed);
                foreach (var b in name[..consumed])
                {
                    escaped.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
                }

                piece = escaped.ToString();
            }

            var bytes = Encoding.UTF8.GetByteCount(piece);
            // The last piece may use the room of the mark; any other must leave it.
            if (used + bytes > MaxSampleBytes || (used + bytes > budget && name.Length > consumed))
            {
                text.Append(CutMark);
                break;
            }

            text.Append(piece);
            used += bytes;
            name = name[consumed..];
        }

        return text.ToString();
    }
}
