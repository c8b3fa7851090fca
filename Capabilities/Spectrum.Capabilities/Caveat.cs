using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Spectrum.Capabilities;

/// <summary>
/// One restriction in a token: a <see cref="CaveatType"/> and its value bytes, exactly as they go
/// on the wire (and into the MAC). Caveats only ever narrow a token. Build them with the
/// factories, which validate; <see cref="TryCreate"/> takes raw bytes and applies the same rules
/// as the decoder, so nothing that the decoder would refuse can be minted.
/// </summary>
public readonly struct Caveat : IEquatable<Caveat>
{
    private readonly byte[]? _value;

    private Caveat(CaveatType type, byte[] value)
    {
        Type = type;
        _value = value;
    }

    /// <summary>The caveat type.</summary>
    public CaveatType Type { get; }

    /// <summary>The value bytes as they are on the wire.</summary>
    public ReadOnlySpan<byte> Value => _value;

    /// <summary>Bytes on the wire: type, u16 length, value.</summary>
    internal int WireLength => TokenLimits.CaveatHeaderLength + (_value?.Length ?? 0);

    /// <summary>The caveat's name in text forms (<c>path</c>, <c>not_after</c>, ...).</summary>
    public string Name => CaveatRules.Name(Type);

    /// <summary>Validates raw value bytes with the decoder's rules and copies them.</summary>
    public static bool TryCreate(CaveatType type, ReadOnlySpan<byte> value, out Caveat caveat, out string error)
    {
        caveat = default;
        if (!CaveatRules.TryValidate((byte)type, value, out error))
        {
            return false;
        }

        caveat = new Caveat(type, value.ToArray());
        return true;
    }

    /// <summary>Requests must lie at or below <paramref name="path"/>.</summary>
    public static Caveat Path(TreePath path)
    {
        if (path.Value is null)
        {
            throw new ArgumentException("the path is uninitialized (default TreePath); parse one with TreePath.Parse", nameof(path));
        }

        Span<byte> buffer = stackalloc byte[TokenLimits.MaxCaveatValueLength];
        var status = Utf8.FromUtf16(path.Value, buffer, out var read, out var written, replaceInvalidSequences: false);
        if (status == OperationStatus.DestinationTooSmall)
        {
            throw new ArgumentException($"a path caveat holds at most {TokenLimits.MaxCaveatValueLength} bytes of UTF-8; grant a shorter ancestor", nameof(path));
        }

        if (status != OperationStatus.Done || read != path.Value.Length)
        {
            throw new ArgumentException("the path is not valid Unicode (it has an unpaired surrogate)", nameof(path));
        }

        return Create(CaveatType.Path, buffer[..written], nameof(path));
    }

    /// <summary>Rights intersect: the token keeps only rights that every rights caveat allows.</summary>
    public static Caveat OfRights(Rights rights)
    {
        Span<byte> value = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(value, (ushort)rights);
        return Create(CaveatType.Rights, value, nameof(rights));
    }

    /// <summary>The token is valid while now &lt; <paramref name="time"/> (whole seconds, truncated).</summary>
    public static Caveat NotAfter(DateTimeOffset time) => Time(CaveatType.NotAfter, time);

    /// <summary>The token is valid from <paramref name="time"/> on (whole seconds, truncated).</summary>
    public static Caveat NotBefore(DateTimeOffset time) => Time(CaveatType.NotBefore, time);

    /// <summary>The token is only accepted on the channel of VM <paramref name="vm"/>.</summary>
    public static Caveat Holder(string vm)
    {
        ArgumentNullException.ThrowIfNull(vm);
        if (vm.Length > TokenLimits.MaxHolderLength || !Ascii.IsValid(vm))
        {
            throw new ArgumentException(CaveatRules.HolderRule, nameof(vm));
        }

        return Create(CaveatType.Holder, Encoding.ASCII.GetBytes(vm), nameof(vm));
    }

    /// <summary>The token can be redeemed once (the broker consumes the nonce).</summary>
    public static Caveat Once(OnceNonce nonce)
    {
        Span<byte> value = stackalloc byte[OnceNonce.Length];
        nonce.CopyTo(value);
        return Create(CaveatType.Once, value, nameof(nonce));
    }

    /// <summary>The token can be redeemed once; <paramref name="nonce16"/> is the 16-byte nonce.</summary>
    public static Caveat Once(ReadOnlySpan<byte> nonce16) => Create(CaveatType.Once, nonce16, nameof(nonce16));

    /// <summary>A <c>once</c> caveat with a fresh random nonce.</summary>
    public static Caveat NewOnce() => Once(OnceNonce.New());

    /// <summary>The token may not be used to delegate.</summary>
    public static Caveat NoDelegate() => Create(CaveatType.NoDelegate, [], "value");

    /// <summary>Free text for the audit log (1..256 bytes of UTF-8, no control characters).</summary>
    public static Caveat Label(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length is 0 or > TokenLimits.MaxLabelLength)
        {
            throw new ArgumentException(CaveatRules.LabelRule, nameof(text));
        }

        // Safe bound: one UTF-16 code unit is at most 3 bytes of UTF-8.
        Span<byte> buffer = stackalloc byte[3 * TokenLimits.MaxLabelLength];
        var status = Utf8.FromUtf16(text, buffer, out _, out var written, replaceInvalidSequences: false);
        if (status != OperationStatus.Done)
        {
            throw new ArgumentException(CaveatRules.LabelRule, nameof(text));
        }

        return Create(CaveatType.Label, buffer[..written], nameof(text));
    }

    /// <summary>The path of a <c>path</c> caveat.</summary>
    public TreePath AsPath() => TreePath.Parse(Encoding.UTF8.GetString(Expect(CaveatType.Path)));

    /// <summary>The rights of a <c>rights</c> caveat.</summary>
    public Rights AsRights() => (Rights)BinaryPrimitives.ReadUInt16BigEndian(Expect(CaveatType.Rights));

    /// <summary>The time of a <c>not_after</c> or <c>not_before</c> caveat.</summary>
    public DateTimeOffset AsTime()
    {
        if (Type is not (CaveatType.NotAfter or CaveatType.NotBefore))
        {
            throw new InvalidOperationException($"a {Name} caveat has no time");
        }

        return DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(_value));
    }

    /// <summary>The text of a <c>holder</c> or <c>label</c> caveat.</summary>
    public string AsText()
    {
        if (Type is not (CaveatType.Holder or CaveatType.Label))
        {
            throw new InvalidOperationException($"a {Name} caveat has no text");
        }

        return Encoding.UTF8.GetString(_value!);
    }

    /// <summary>The nonce of a <c>once</c> caveat.</summary>
    public OnceNonce AsOnceNonce() => OnceNonce.FromBytes(Expect(CaveatType.Once));

    /// <summary>Writes type, u16 length and value.</summary>
    internal void WriteWire(Span<byte> destination)
    {
        destination[0] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], (ushort)Value.Length);
        Value.CopyTo(destination[TokenLimits.CaveatHeaderLength..]);
    }

    /// <summary>True when the caveat passes the decoder's rules (false for <c>default</c>).</summary>
    internal bool IsWellFormed => _value is not null && CaveatRules.TryValidate((byte)Type, _value, out _);

    /// <summary>Reads the value of a caveat already validated on the wire.</summary>
    internal static Caveat FromTrustedWire(byte type, ReadOnlySpan<byte> value) => new((CaveatType)type, value.ToArray());

    /// <summary>
    /// <c>name=value</c>: <c>path=Documents</c>, <c>rights=ro</c>, <c>not_after=2026-01-01T00:00:00Z</c>,
    /// <c>holder=vm-a</c>, <c>once=…hex…</c>, <c>no_delegate</c>, <c>label="…"</c>.
    /// </summary>
    public override string ToString()
    {
        if (!IsWellFormed)
        {
            return "invalid caveat";
        }

        return Type switch
        {
            CaveatType.Path => "path=" + Encoding.UTF8.GetString(_value!),
            CaveatType.Rights => "rights=" + RightsText.Format(AsRights()),
            CaveatType.NotAfter or CaveatType.NotBefore =>
                Name + "=" + AsTime().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            CaveatType.Holder => "holder=" + AsText(),
            CaveatType.Once => "once=" + AsOnceNonce(),
            CaveatType.NoDelegate => "no_delegate",
            CaveatType.Label => "label=\"" + AsText() + "\"",
            _ => "invalid caveat",
        };
    }

    /// <inheritdoc />
    public bool Equals(Caveat other) => Type == other.Type && Value.SequenceEqual(other.Value);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Caveat other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Type);
        hash.AddBytes(Value);
        return hash.ToHashCode();
    }

    public static bool operator ==(Caveat left, Caveat right) => left.Equals(right);

    public static bool operator !=(Caveat left, Caveat right) => !left.Equals(right);

    private static Caveat Time(CaveatType type, DateTimeOffset time)
    {
        Span<byte> value = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(value, time.ToUnixTimeSeconds());
        return Create(type, value, nameof(time));
    }

    private static Caveat Create(CaveatType type, ReadOnlySpan<byte> value, string parameter) =>
        TryCreate(type, value, out var caveat, out var error) ? caveat : throw new ArgumentException(error, parameter);

    private ReadOnlySpan<byte> Expect(CaveatType type)
    {
        if (Type != type || _value is null)
        {
            throw new InvalidOperationException($"this is a {Name} caveat, not a {CaveatRules.Name(type)} caveat");
        }

        return _value;
    }
}
