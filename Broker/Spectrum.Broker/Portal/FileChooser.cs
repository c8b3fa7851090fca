namespace Spectrum.Broker.Portal;

/// <summary>The three dialogs of <c>org.freedesktop.impl.portal.FileChooser</c>.</summary>
public enum FileChooserMethod
{
    OpenFile,
    SaveFile,
    SaveFiles,
}

/// <summary>One rule of a filter: D-Bus <c>(us)</c>, kind 0 a glob pattern, 1 a MIME type.</summary>
public readonly record struct FilterRule(uint Kind, string Pattern);

/// <summary>A named filter: D-Bus <c>(sa(us))</c>.</summary>
public sealed record FileFilter(string Name, IReadOnlyList<FilterRule> Rules);

/// <summary>One choice option: D-Bus <c>(ss)</c>, id and label.</summary>
public readonly record struct ChoiceOption(string Id, string Label);

/// <summary>A choice offered next to the file list: D-Bus <c>(ssa(ss)s)</c>; no options means a check box.</summary>
public sealed record Choice(string Id, string Label, IReadOnlyList<ChoiceOption> Options, string Selected);

/// <summary>What the user chose for one choice: D-Bus <c>(ss)</c>.</summary>
public readonly record struct ChoiceAnswer(string Id, string Value);

/// <summary>
/// The options of a file-chooser request, as in <c>org.freedesktop.impl.portal.FileChooser</c>.
/// From a guest, <see cref="CurrentFolder"/>, <see cref="CurrentFile"/> and <see cref="Files"/>
/// are paths inside the guest's view mount (<c>/run/virtiofs/virtiofs0/…</c>); toward the host
/// dialog they are host paths, and only those the VM may see.
/// </summary>
public sealed record FileChooserOptions
{
    public static FileChooserOptions Empty { get; } = new();

    public string? Title { get; init; }
    public string? AcceptLabel { get; init; }
    public bool? Modal { get; init; }
    public bool? Multiple { get; init; }
    public bool? Directory { get; init; }
    public IReadOnlyList<FileFilter> Filters { get; init; } = [];
    public FileFilter? CurrentFilter { get; init; }
    public IReadOnlyList<Choice> Choices { get; init; } = [];
    public string? CurrentName { get; init; }
    public string? CurrentFolder { get; init; }
    public string? CurrentFile { get; init; }

    /// <summary>SaveFiles: the names of the files to save into the chosen folder.</summary>
    public IReadOnlyList<string> Files { get; init; } = [];
}

/// <summary>Portal response codes: the user chose, the user cancelled, anything else.</summary>
public static class PortalResponse
{
    public const uint Success = 0;
    public const uint Cancelled = 1;
    public const uint Other = 2;
}

/// <summary>What the guest gets back: every URI is <c>file://</c> + a path inside its view mount.</summary>
public sealed record FileChooserResult(
    uint Response,
    IReadOnlyList<string> Uris,
    bool Writable,
    IReadOnlyList<ChoiceAnswer> Choices,
    FileFilter? CurrentFilter)
{
    public static FileChooserResult Cancelled { get; } = new(PortalResponse.Cancelled, [], false, [], null);
    public static FileChooserResult Failed { get; } = new(PortalResponse.Other, [], false, [], null);
}
