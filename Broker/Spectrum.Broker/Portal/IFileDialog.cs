namespace Spectrum.Broker.Portal;

/// <summary>
/// A request for the host's dialog, already made safe by the broker: <see cref="Title"/> names the
/// VM, and the options' folder and file paths are host paths the VM may see (or null).
/// </summary>
/// <param name="Method">Which dialog.</param>
/// <param name="Vm">The requesting VM (for logs and a command fallback's environment).</param>
/// <param name="Title">The title to show, naming the VM ("editor wants to open a file").</param>
/// <param name="Options">Options with host paths; <c>Title</c> inside is ignored.</param>
public sealed record DialogRequest(FileChooserMethod Method, string Vm, string Title, FileChooserOptions Options);

/// <summary>What the host dialog answered: host absolute paths, not URIs.</summary>
public sealed record DialogAnswer(
    uint Response,
    IReadOnlyList<string> Paths,
    bool Writable,
    IReadOnlyList<ChoiceAnswer> Choices,
    FileFilter? CurrentFilter)
{
    public static DialogAnswer Cancelled { get; } = new(PortalResponse.Cancelled, [], false, [], null);
    public static DialogAnswer Closed { get; } = new(PortalResponse.Other, [], false, [], null);
}

/// <summary>The host's file dialog: the real XDG portal backend over D-Bus, or a command.</summary>
public interface IFileDialog
{
    /// <summary>How audit records and logs name this dialog ("org.freedesktop.impl.portal.desktop.gtk", "command zenity").</summary>
    string Name { get; }

    /// <summary>
    /// Shows the dialog and waits for the user. Cancelling <paramref name="close"/> closes the
    /// dialog (the guest's <c>Close</c>, or the VM stopping) and answers <see cref="DialogAnswer.Closed"/>.
    /// </summary>
    /// <exception cref="DialogUnavailableException">The dialog could not be shown at all.</exception>
    Task<DialogAnswer> ShowAsync(DialogRequest request, CancellationToken close);
}

/// <summary>The host dialog cannot be reached (no session bus, no backend, command missing).</summary>
public sealed class DialogUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
