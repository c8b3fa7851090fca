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
