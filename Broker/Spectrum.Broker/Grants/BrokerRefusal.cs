namespace Spectrum.Broker.Grants;

/// <summary>Why the control plane refused a request; the API maps each onto an HTTP status.</summary>
public enum RefusalKind
{
    /// <summary>Malformed input: 400.</summary>
    BadRequest,

    /// <summary>No such grant, VM or path: 404.</summary>
    NotFound,

    /// <summary>The request conflicts with the current state (already revoked, token replayed): 409.</summary>
    Conflict,

    /// <summary>The caller may not do this (not admin, token does not allow it): 403.</summary>
    Forbidden,

    /// <summary>A guest could not be started (the VMM or virtiofsd failed): 502.</summary>
    LaunchFailed,

    /// <summary>A transient shortage (file descriptors, memory) or interruption; nothing was changed, try again: 503.</summary>
    Unavailable,
}

/// <summary>A refused control-plane request; the message is one line naming the cause and the fix.</summary>
public sealed class BrokerRefusal(RefusalKind kind, string message) : Exception(message)
{
    public RefusalKind Kind { get; } = kind;

    public static BrokerRefusal Bad(string message) => new(RefusalKind.BadRequest, message);

    public static BrokerRefusal NotFound(string message) => new(RefusalKind.NotFound, message);

    public static BrokerRefusal Conflict(string message) => new(RefusalKind.Conflict, message);

    public static BrokerRefusal Forbidden(string message) => new(RefusalKind.Forbidden, message);

    public static BrokerRefusal LaunchFailed(string message) => new(RefusalKind.LaunchFailed, message);

    /// <summary>The refusal for a transient <paramref name="errno"/> (see <see cref="Spectrum.Interop.ErrnoFacts.IsTransient"/>): 503, nothing changed.</summary>
    public static BrokerRefusal Unavailable(Spectrum.Interop.Errno errno) => new(
        RefusalKind.Unavailable,
        errno switch
        {
            Spectrum.Interop.Errno.EMFILE or Spectrum.Interop.Errno.ENFILE => "the broker is short of file descriptors; nothing was changed, try again (if it persists, raise its LimitNOFILE or close what holds the descriptors)",
            Spectrum.Interop.Errno.ENOMEM => "the broker is short of memory; nothing was changed, try again",
            _ => "the broker's access to the tree was interrupted or raced with a rename; nothing was changed, try again",
        });

    /// <summary>
    /// Untrusted text quoted in a one-line message: control characters (a newline included) and
    /// the backslash are written as <c>\xNN</c>, and the text is cut at 128 characters.
    /// </summary>
    public static string Printable(string? text)
    {
        if (text is null)
        {
            return "";
        }

        var builder = new System.Text.StringBuilder(Math.Min(text.Length, 128));
        foreach (var c in text.Length > 128 ? text[..128] : text)
        {
            if (char.IsControl(c) || c == '\\')
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return text.Length > 128 ? builder.Append('…').ToString() : builder.ToString();
    }
}
