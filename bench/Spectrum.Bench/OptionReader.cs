using System.Globalization;

namespace Spectrum.Bench;

/// <summary>Walks a subcommand's options: each name, then its value, with errors that name the option.</summary>
internal sealed class OptionReader(string[] args)
{
    private int _at = -1;

    /// <summary>Moves to the next option; false at the end.</summary>
    public bool Next(out string name)
    {
        _at++;
        name = _at < args.Length ? args[_at] : "";
        return _at < args.Length;
    }

    /// <summary>The current option's value (the next argument).</summary>
    public string Value() => _at + 1 < args.Length ? args[++_at] : throw new ArgumentException($"{args[_at]} needs a value");

    /// <summary>The current option's value as an integer of at least <paramref name="min"/>.</summary>
    public int Count(int min)
    {
        var name = args[_at];
        var text = Value();
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min
            ? n
            : throw new ArgumentException($"{name} needs an integer of at least {min}, not '{text}'");
    }
}
