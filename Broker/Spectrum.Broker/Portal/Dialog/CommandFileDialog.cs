using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;

namespace Spectrum.Broker.Portal.Dialog;

/// <summary>
/// The fallback for hosts without a portal backend: a program that shows some dialog and prints
/// the chosen absolute host paths on stdout, one per line (zenity, kdialog or yad behind a small
/// wrapper). It runs without a shell, with the broker's environment plus the request:
/// </summary>
/// <remarks>
/// <list type="table">
/// <item><term>SPECTRUM_PORTAL_METHOD</term><description><c>OpenFile</c>, <c>SaveFile</c> or <c>SaveFiles</c>.</description></item>
/// <item><term>SPECTRUM_PORTAL_VM</term><description>The requesting VM.</description></item>
/// <item><term>SPECTRUM_PORTAL_TITLE</term><description>The title to show, naming the VM.</description></item>
/// <item><term>SPECTRUM_PORTAL_MULTIPLE, SPECTRUM_PORTAL_DIRECTORY</term><description><c>0</c> or <c>1</c>.</description></item>
/// <item><term>SPECTRUM_PORTAL_CURRENT_FOLDER, _CURRENT_NAME, _CURRENT_FILE</term><description>Host paths and the suggested name, empty when unset.</description></item>
/// <item><term>SPECTRUM_PORTAL_FILES</term><description>SaveFiles: the file names, one per line.</description></item>
/// </list>
/// Exit 0 with at least one path is a choice; exit 0 with none, or exit 1 (zenity's Cancel), is a
/// cancel; anything else, a killed program or more than <see cref="MaxOutputBytes"/> of output is a
/// failure. For SaveFiles the program prints the chosen folder and the answer is each file name
/// inside it, as xdg-desktop-portal-gtk answers. The answer is never <c>writable</c>: a command
/// has no way to ask for write access beyond what the method implies (SaveFile and SaveFiles
/// grant a named slot, OpenFile reads).
/// </remarks>
public sealed partial class CommandFileDialog : IFileDialog
{
    /// <summary>Paths are short; a program printing more than this is broken or hostile.</summary>
    public const int MaxOutputBytes = 64 * 1024;

    private const int MaxErrorBytes = 4 * 1024;

    private readonly string[] argv;
    private readonly ILogger logger;

    /// <param name="command">The program (absolute path) and its arguments.</param>
    /// <param name="logger">Where a failing program's stderr is logged.</param>
    public CommandFileDialog(IReadOnlyList<string> command, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0 || command[0].Length == 0 || command[0][0] != '/')
        {
            throw new ArgumentException("the command needs a program given by its absolute path", nameof(command));
        }

        argv = [.. command];
        this.logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The program and its arguments.</summary>
    public IReadOnlyList<string> Command => argv;

    /// <inheritdoc/>
    public string Name => "command " + argv[0];

    /// <inheritdoc/>
    public async Task<DialogAnswer> ShowAsync(DialogRequest request, CancellationToken close)
    {
        ArgumentNullException.ThrowIfNull(request);
        close.ThrowIfCancellationRequested();
        if (!File.Exists(argv[0]))
        {
            throw new DialogUnavailableException($"the file dialog command {argv[0]} does not exist: install it or change [portal] command in broker.toml");
        }

        using var process = new Process { StartInfo = StartInfo(request) };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new DialogUnavailableException($"cannot run the file dialog command {argv[0]} ({e.Message}): make it executable or change [portal] command in broker.toml", e);
        }

        process.StandardInput.Close();
        var closed = false;
        using var registration = close.Register(() =>
        {
            closed = true;
            Kill(process);
        });

        var stdout = ReadBoundedAsync(process.StandardOutput.BaseStream, MaxOutputBytes);
        var stderr = ReadBoundedAsync(process.StandardError.BaseStream, MaxErrorBytes, drain: true);
        var (output, overflow) = await stdout.ConfigureAwait(false);
        if (overflow)
        {
            Kill(process);
        }

        var (error, _) = await stderr.ConfigureAwait(false);
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        if (closed || close.IsCancellationRequested)
        {
            return DialogAnswer.Closed;
        }

        var stderrText = Encoding.UTF8.GetString(error).Trim();
        if (overflow)
        {
            LogFailed(logger, request.Vm, argv[0], $"more than {MaxOutputBytes} bytes on stdout", stderrText);
            return DialogAnswer.Closed;
        }

        if (process.ExitCode == 1)
        {
            return DialogAnswer.Cancelled;
        }

        if (process.ExitCode != 0)
        {
            LogFailed(logger, request.Vm, argv[0], $"exit status {process.ExitCode}", stderrText);
            return DialogAnswer.Closed;
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(output);
        }
        catch (DecoderFallbackException)
        {
            LogFailed(logger, request.Vm, argv[0], "stdout is not UTF-8", stderrText);
            return DialogAnswer.Closed;
        }

        var paths = new List<string>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (!IsAbsoluteCanonical(line))
            {
                LogFailed(logger, request.Vm, argv[0], $"'{line}' is not an absolute path", stderrText);
                return DialogAnswer.Closed;
            }

            paths.Add(line.Length > 1 ? line.TrimEnd('/') : line);
        }

        if (paths.Count == 0)
        {
            return DialogAnswer.Cancelled;
        }

        if (request.Method == FileChooserMethod.SaveFiles)
        {
            if (paths.Count != 1)
            {
                LogFailed(logger, request.Vm, argv[0], $"SaveFiles wants one folder, got {paths.Count} lines", stderrText);
                return DialogAnswer.Closed;
            }

            var folder = paths[0];
            paths = [.. request.Options.Files.Select(name => folder == "/" ? "/" + name : folder + "/" + name)];
        }
        else if (paths.Count > 1 && request.Options.Multiple != true)
        {
            LogFailed(logger, request.Vm, argv[0], $"{paths.Count} paths for a single choice", stderrText);
            return DialogAnswer.Closed;
        }

        return new DialogAnswer(PortalResponse.Success, paths, false, [], null);
    }

    private ProcessStartInfo StartInfo(DialogRequest request)
    {
        var info = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in argv.AsSpan(1))
        {
            info.ArgumentList.Add(arg);
        }

        var options = request.Options;
        info.Environment["SPECTRUM_PORTAL_METHOD"] = request.Method.ToString();
        info.Environment["SPECTRUM_PORTAL_VM"] = request.Vm;
        info.Environment["SPECTRUM_PORTAL_TITLE"] = request.Title;
        info.Environment["SPECTRUM_PORTAL_MULTIPLE"] = options.Multiple == true ? "1" : "0";
        info.Environment["SPECTRUM_PORTAL_DIRECTORY"] = options.Directory == true ? "1" : "0";
        info.Environment["SPECTRUM_PORTAL_CURRENT_FOLDER"] = options.CurrentFolder ?? "";
        info.Environment["SPECTRUM_PORTAL_CURRENT_NAME"] = options.CurrentName ?? "";
        info.Environment["SPECTRUM_PORTAL_CURRENT_FILE"] = options.CurrentFile ?? "";
        info.Environment["SPECTRUM_PORTAL_FILES"] = string.Join('\n', options.Files);
        return info;
    }

    private static bool IsAbsoluteCanonical(string path) =>
        path[0] == '/' && !path.Contains('\0', StringComparison.Ordinal) && !path.Split('/').Any(s => s is "." or "..");

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>
    /// Reads to the end, keeping at most <paramref name="limit"/> bytes. Past the limit stdout
    /// stops (the caller kills the program); stderr is drained so the program never blocks on it.
    /// </summary>
    private static async Task<(byte[] Bytes, bool Overflow)> ReadBoundedAsync(Stream stream, int limit, bool drain = false)
    {
        var buffer = new byte[limit + 1];
        var filled = 0;
        while (true)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled, Math.Max(1, buffer.Length - filled))).ConfigureAwait(false);
            if (read == 0)
            {
                return (buffer[..filled], false);
            }

            filled += read;
            if (filled > limit)
            {
                if (!drain)
                {
                    return (buffer[..limit], true);
                }

                filled = limit;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The file dialog command {Program} failed for VM {Vm}: {Reason}; stderr: {Stderr}")]
    private static partial void LogFailed(ILogger logger, string vm, string program, string reason, string stderr);
}
