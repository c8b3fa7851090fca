namespace Spectrum.Capabilities;

/// <summary>
/// The caveat types of format version 1. The byte values are on the wire and frozen by the
/// golden tests: a new type only ever takes a new value, and a verifier that does not know a
/// type rejects the token (fail closed), because ignoring a restriction would widen access.
/// </summary>
public enum CaveatType : byte
{
    /// <summary>UTF-8 canonical <see cref="TreePath"/>; the request path must lie within it.</summary>
    Path = 1,

    /// <summary>u16 big-endian bit mask of <see cref="Capabilities.Rights"/>; rights intersect.</summary>
    Rights = 2,

    /// <summary>i64 big-endian unix seconds; valid while now &lt; value.</summary>
    NotAfter = 3,

    /// <summary>i64 big-endian unix seconds; valid from value on.</summary>
    NotBefore = 4,

    /// <summary>VM name; the token is only accepted on that VM's channel.</summary>
    Holder = 5,

    /// <summary>16-byte nonce; the broker lets it be redeemed once.</summary>
    Once = 6,

    /// <summary>Empty value; the token may not be used to delegate.</summary>
    NoDelegate = 7,

    /// <summary>Free text for the audit log; grants nothing and restricts nothing.</summary>
    Label = 8,
}
