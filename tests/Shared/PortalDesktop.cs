using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Spectrum.Tests.Shared;

/// <summary>
/// A headless desktop for the host-dialog tests: Xvfb on a free display, a private session
/// <c>dbus-daemon</c> whose environment points GTK at that display (D-Bus-activated services such as
/// xdg-desktop-portal-gtk inherit the daemon's environment, so it is set before the daemon starts),
/// and xdotool to press the keys a user would. No window manager: the GTK dialog maps and takes
/// the focus without one, and a 1920x1080 screen is needed for its buttons to be on screen
/// (measured with xdg-desktop-portal-gtk 1.14.1).
/// </summary>
public sealed class PortalDesktop : IAsyncDisposable
{
    /// <summary>Every program the rig runs, with the Debian package that ships it.</summary>
    public static IReadOnlyList<(string Program, string Package)> Programs { get; } =
    [
        ("/usr/bin/Xvfb", "xvfb"),
        ("/usr/bin/dbus-daemon", "dbus"),
        ("/usr/libexec/xdg-desktop-portal-gtk", "xdg-desktop-portal-gtk"),
        ("/usr/bin/xdotool", "xdotool"),
        ("/usr/bin/import", "imagemagick"),
        ("/usr/bin/setsid", "util-linux"),
    ];

    private readonly Process xvfb;
    private readonly Process bus;

    private PortalDesktop(string root, Process xvfb, Process bus, string display, string busAddress)
    {
        Root = root;
        this.xvfb = xvfb;
        this.bus = bus;
        Display = display;
        BusAddress = busAddress;
    }

    /// <summary>Why the rig cannot run here ("needs /usr/bin/xdotool (apt-get install xdotool)"), or null.</summary>
    public static string? Missing
    {
        get
        {
            var missing = Programs.Where(p => !File.Exists(p.Program)).ToList();
            return missing.Count == 0
                ? null
                : "needs " + string.Join(", ", missing.Select(p => p.Program)) +
                  " (make deps, or apt-get install " + string.Join(' ', missing.Select(p => p.Package)) + ")";
        }
    }

    /// <summary>The private folder: XDG_RUNTIME_DIR (0700), GTK's config, data and cache homes.</summary>
    public string Root { get; }

    /// <summary>The X display, such as <c>:93</c>.</summary>
    public string Display { get; }

    /// <summary>The private session bus's address.</summary>
    public string BusAddress { get; }

    /// <summary>Starts Xvfb and the bus; the portal backend starts on the first call to it.</summary>
    public static async Task<PortalDesktop> StartAsync()
    {
        if (Missing is { } missing)
        {
            throw new InvalidOperationException(missing);
        }

        var root = Directory.CreateTempSubdirectory("spectrum-desktop-").FullName;
        File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var runtime = Path.Combine(root, "runtime");
        Directory.CreateDirectory(runtime, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // -displayfd: Xvfb picks a free display itself and prints its number once it accepts clients.
        var xvfb = StartInOwnGroup(
            ["/usr/bin/Xvfb", "-displayfd", "1", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"], environment: null);
        var number = await ReadLineAsync(xvfb, "Xvfb").ConfigureAwait(false);
        var display = ":" + number.ToString(CultureInfo.InvariantCulture);

        var environment = new Dictionary<string, string>
        {
            ["DISPLAY"] = display,
            ["XDG_RUNTIME_DIR"] = runtime,
            ["XDG_CONFIG_HOME"] = Path.Combine(root, "config"),
            ["XDG_DATA_HOME"] = Path.Combine(root, "data"),
            ["XDG_CACHE_HOME"] = Path.Combine(root, "cache"),
            ["GTK_USE_PORTAL"] = "0",
            ["NO_AT_BRIDGE"] = "1",
            ["GDK_BACKEND"] = "x11",
            // No dconf service to activate: the file chooser's own settings live in memory.
            ["GSETTINGS_BACKEND"] = "memory",
        };
        Process bus;
        string address;
        try
        {
            bus = StartInOwnGroup(["/usr/bin/dbus-daemon", "--session", "--print-address=1", "--nofork"], environment);
            address = await ReadLineAsync(bus, "dbus-daemon").ConfigureAwait(false);
        }
        catch
        {
            KillGroup(xvfb);
            xvfb.Dispose();
            throw;
        }

        return new PortalDesktop(root, xvfb, bus, display, address);
    }

    /// <summary>
    /// Waits for a visible window whose name contains <paramref name="title"/> to have the input
    /// focus, which is when keystrokes reach it (typing as soon as it maps loses them), and
    /// returns its X window id.
    /// </summary>
    public async Task<string> WaitForDialogAsync(string title, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            var (_, found) = await XdotoolAsync("search", "--onlyvisible", "--name", RegexLiteral(title)).ConfigureAwait(false);
            var windows = found.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (windows.Length > 0)
            {
                var (_, focus) = await XdotoolAsync("getwindowfocus").ConfigureAwait(false);
                if (!windows.Contains(focus.Trim()))
                {
                    // No window manager hands the focus back when another dialog closes: take it.
                    await XdotoolAsync("windowfocus", windows[^1]).ConfigureAwait(false);
                }
                else
                {
                    // The entry widgets take keys a moment after the window takes the focus.
                    await Task.Delay(300).ConfigureAwait(false);
                    return focus.Trim();
                }
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        throw new TimeoutException($"no dialog named '{title}' on {Display} within the timeout");
    }

    /// <summary>Whether a visible window named like <paramref name="title"/> is on screen.</summary>
    public async Task<bool> IsShownAsync(string title)
    {
        var (_, found) = await XdotoolAsync("search", "--onlyvisible", "--name", RegexLiteral(title)).ConfigureAwait(false);
        return found.Trim().Length > 0;
    }

    /// <summary>Waits until no visible window is named like <paramref name="title"/>; false on timeout.</summary>
    public async Task<bool> WaitForGoneAsync(string title, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (!await IsShownAsync(title).ConfigureAwait(false))
            {
                return true;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        return false;
    }

    /// <summary>The window's name (its title).</summary>
    public async Task<string> WindowNameAsync(string window) =>
        (await XdotoolAsync("getwindowname", window).ConfigureAwait(false)).Output.TrimEnd('\n');

    /// <summary>
    /// Picks <paramref name="path"/> in an open dialog as a user would: Ctrl+L opens the location
    /// entry, the path is typed, Delete drops GTK's inline completion (typing <c>/var/tmp</c>
    /// completes to the first folder inside it), Return accepts.
    /// </summary>
    public async Task PickAsync(string path)
    {
        await XdotoolAsync("key", "ctrl+l").ConfigureAwait(false);
        await TypeAsync(path).ConfigureAwait(false);
    }

    /// <summary>
    /// Picks the folder <paramref name="path"/> in a folder chooser (OpenFile with directory,
    /// SaveFiles). Without a current folder GTK 3 opens these on Recent, where the Select (or
    /// Save) button stays insensitive and Return in the location entry does nothing, whatever is
    /// typed (measured with xdg-desktop-portal-gtk 1.14.1: with or without a trailing slash, once
    /// or twice). Alt+Home, the chooser's home-folder key binding, leaves Recent first; then the
    /// typed path is accepted as the chosen folder like a file.
    /// </summary>
    public async Task PickFolderAsync(string path)
    {
        await XdotoolAsync("key", "alt+Home").ConfigureAwait(false);
        await Task.Delay(300).ConfigureAwait(false);
        await PickAsync(path).ConfigureAwait(false);
    }

    /// <summary>In a save dialog: replaces the name field's text with a full path and accepts.</summary>
    public async Task SaveAsAsync(string path)
    {
        await XdotoolAsync("key", "ctrl+a").ConfigureAwait(false);
        await TypeAsync(path).ConfigureAwait(false);
    }

    /// <summary>
    /// Presses the dialog's Cancel button (Alt+C, its mnemonic): xdg-desktop-portal-gtk answers 1
    /// (cancelled).
    /// </summary>
    public Task CancelAsync() => XdotoolAsync("key", "alt+c");

    /// <summary>
    /// Presses Escape, which GTK turns into a delete event: xdg-desktop-portal-gtk 1.14.1 answers 2
    /// (other), not 1 (measured; the Cancel button answers 1).
    /// </summary>
    public Task EscapeAsync() => XdotoolAsync("key", "Escape");

    /// <summary>Presses keys (xdotool key syntax: <c>ctrl+a</c>, <c>Return</c>).</summary>
    public Task KeyAsync(params string[] keys) => XdotoolAsync(["key", .. keys]);

    /// <summary>Saves the whole screen as a PNG (ImageMagick's import).</summary>
    public async Task ScreenshotAsync(string file)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        var (code, output) = await RunAsync(["/usr/bin/import", "-window", "root", file]).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"import failed ({code}): {output}");
        }
    }

    /// <summary>Runs xdotool on this display.</summary>
    public Task<(int Code, string Output)> XdotoolAsync(params string[] args) => RunAsync(["/usr/bin/xdotool", .. args]);

    public async ValueTask DisposeAsync()
    {
        // The bus first: the backend it started lives in its process group and goes with it.
        foreach (var process in new[] { bus, xvfb })
        {
            KillGroup(process);
            await process.WaitForExitAsync().ConfigureAwait(false);
            process.Dispose();
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A backend still writing its cache; the folder is under /tmp.
        }
    }

    private async Task TypeAsync(string text)
    {
        await XdotoolAsync("type", "--delay", "20", text).ConfigureAwait(false);
        await Task.Delay(200).ConfigureAwait(false);
        await XdotoolAsync("key", "Delete", "Return").ConfigureAwait(false);
    }

    private async Task<(int Code, string Output)> RunAsync(string[] argv)
    {
        var info = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in argv.AsSpan(1))
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DISPLAY"] = Display;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        return (process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }

    /// <summary>
    /// Runs a program through setsid so that it and everything it starts share a new process
    /// group, which <see cref="KillGroup"/> ends at once (setsid execs in place: the pid is the group).
    /// </summary>
    private static Process StartInOwnGroup(string[] argv, Dictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo("/usr/bin/setsid") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in argv)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("DBUS_SESSION_BUS_ADDRESS");
        foreach (var (key, value) in environment ?? [])
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info)!;
        // Drained so a chatty backend never blocks on a full pipe.
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }

    private static async Task<string> ReadLineAsync(Process process, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            if (string.IsNullOrWhiteSpace(line))
            {
                throw new InvalidOperationException($"{what} exited without starting");
            }

            _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            return line.Trim();
        }
        catch (OperationCanceledException)
        {
            KillGroup(process);
            throw new TimeoutException($"{what} did not start within 20 s");
        }
    }

    private static void KillGroup(Process process)
    {
        try
        {
            using var kill = Process.Start("/bin/kill", ["-KILL", "--", "-" + process.Id.ToString(CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Exited already.
        }
    }

    /// <summary>xdotool matches names as POSIX extended regular expressions.</summary>
    private static string RegexLiteral(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (".[]()*+?{}|^$\\".Contains(c, StringComparison.Ordinal))
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }
}
