using Spectrum.Broker.Portal;
using Spectrum.Broker.Portal.Wire;

namespace Spectrum.Fuzz;

/// <summary>
/// One fuzz input is a byte stream as a VM would send it: framed by <see cref="LineFramer"/>, each
/// line read by <see cref="PortalWire.Parse"/> and answered. Any exception is a finding: Parse
/// must never throw, and a broken invariant below throws <see cref="InvariantException"/>.
/// </summary>
public static class PortalWireTarget
{
    public static void Run(ReadOnlySpan<byte> input)
    {
        var framer = new LineFramer();
        var rest = input;
        LineStatus status;
        while ((status = framer.Read(ref rest, out var line)) != LineStatus.NeedMoreData)
        {
            Check(framer.Buffered <= PortalLimits.MaxLineBytes, "the framer buffers more than a line");
            if (status == LineStatus.TooLong)
            {
                CheckReply(PortalWire.Error(PortalWire.LineTooLongError));
                continue;
            }

            Check(line.Length is > 0 and <= PortalLimits.MaxLineBytes && !line.Contains((byte)'\n'), "a framed line is empty, too long or holds a newline");
            Answer(PortalWire.Parse(line));
        }
    }

    private static void Answer(PortalMessage message)
    {
        switch (message)
        {
            case PortalWireError error:
                Check(PortalErrorCode.IsDefined(error.Code), $"undefined error code {error.Code}");
                Check(error.Message.Length > 0 && !error.Message.Contains('\n'), "an error message is empty or not one line");
                CheckReply(PortalWire.Error(error));
                break;
            case ChooserRequest request:
                CheckBounds(request.Options);
                CheckReply(PortalWire.Result(request.Id, Echo(request.Options)));
                var canonical = PortalWire.Request(request);
                CheckReply(canonical);
                // A canonical line may be longer than the input (escapes); within the limit it must read back the same.
                if (canonical.Length - 1 <= PortalLimits.MaxLineBytes)
                {
                    var again = PortalWire.Parse(canonical.AsSpan(0, canonical.Length - 1));
                    Check(again is ChooserRequest, $"the canonical form of a request does not parse: {(again as PortalWireError)?.Message}");
                    Check(PortalWire.Request((ChooserRequest)again).AsSpan().SequenceEqual(canonical), "the canonical form is not stable");
                    Check(((ChooserRequest)again).Id.Equals(request.Id), "the id changed through the canonical form");
                }

                break;
            case CloseRequest close:
                CheckReply(PortalWire.CloseResult(close.Id));
                var line = PortalWire.Request(close);
                var back = PortalWire.Parse(line.AsSpan(0, line.Length - 1));
                Check(back is CloseRequest c && c.Id.Equals(close.Id) && c.Target.Equals(close.Target), "a Close does not round-trip");
                break;
            default:
                throw new InvariantException("Parse returned neither a request nor an error");
        }
    }

    /// <summary>A result built from the request's own strings, so the writer sees everything the reader lets through.</summary>
    private static FileChooserResult Echo(FileChooserOptions o) => new(
        PortalResponse.Success,
        [.. o.Files.Select(f => "file:///" + f), .. o.CurrentFile is null ? Array.Empty<string>() : ["file://" + o.CurrentFile]],
        o.Multiple ?? false,
        [.. o.Choices.Select(c => new ChoiceAnswer(c.Id, c.Selected))],
        o.CurrentFilter);

    private static void CheckBounds(FileChooserOptions o)
    {
        var strings = new List<string?> { o.Title, o.AcceptLabel, o.CurrentName, o.CurrentFolder, o.CurrentFile };
        Check(o.Filters.Count <= PortalLimits.MaxArrayItems && o.Choices.Count <= PortalLimits.MaxArrayItems && o.Files.Count <= PortalLimits.MaxArrayItems, "an array over the limit");
        foreach (var filter in o.CurrentFilter is null ? o.Filters : [.. o.Filters, o.CurrentFilter])
        {
            Check(filter.Rules.Count <= PortalLimits.MaxArrayItems && filter.Rules.All(r => r.Kind <= 1), "filter rules over the limit or of an unknown kind");
            strings.Add(filter.Name);
            strings.AddRange(filter.Rules.Select(r => r.Pattern));
        }

        foreach (var choice in o.Choices)
        {
            Check(choice.Options.Count <= PortalLimits.MaxArrayItems, "choice options over the limit");
            strings.AddRange([choice.Id, choice.Label, choice.Selected]);
            strings.AddRange(choice.Options.SelectMany(x => new[] { x.Id, x.Label }));
        }

        strings.AddRange(o.Files);
        foreach (var s in strings)
        {
            Check(s is null || (System.Text.Encoding.UTF8.GetByteCount(s) <= PortalLimits.MaxStringBytes && !s.Contains('\0')), "a string over the limit or with a NUL");
        }

        Check(o.CurrentFolder is null || o.CurrentFolder.StartsWith('/'), "a relative current_folder");
        Check(o.CurrentFile is null || o.CurrentFile.StartsWith('/'), "a relative current_file");
    }

    /// <summary>A reply is one line: it ends in its only newline, and it is ASCII (the writer escapes the rest).</summary>
    private static void CheckReply(byte[] reply)
    {
        Check(reply.Length > 1 && reply[^1] == (byte)'\n' && reply.AsSpan(0, reply.Length - 1).IndexOf((byte)'\n') < 0, "a reply is not exactly one line");
        Check(reply.AsSpan(0, reply.Length - 1).IndexOfAnyExceptInRange((byte)0x20, (byte)0x7e) < 0, "a reply holds a non-ASCII or control byte");
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvariantException(what);
        }
    }
}

/// <summary>An invariant of the reader or writer does not hold: the input is a finding.</summary>
public sealed class InvariantException(string message) : Exception(message);
