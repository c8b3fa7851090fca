using System.Globalization;
using Spectrum.Broker.Portal;
using Spectrum.Broker.Portal.Dialog;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>
/// The command fallback against real programs: small <c>/bin/sh</c> scripts in a temp folder.
/// They run as <c>/bin/sh script</c> rather than being executed themselves, so a script just
/// written can never fail with ETXTBSY while another test thread forks.
/// </summary>
public sealed class CommandFileDialogTests : IDisposable
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(20);

    private readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("spectrum-command-dialog-");

    public void Dispose() => folder.Delete(recursive: true);

    [Fact]
    public async Task OpenFile_OnePathPrinted_ReturnsIt()
    {
        var dialog = Script("echo /home/user/report.odt");

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.OpenFile), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Success, answer.Response);
        Assert.Equal(["/home/user/report.odt"], answer.Paths);
        Assert.False(answer.Writable);
    }

    [Fact]
    public async Task OpenFile_MultipleWithSeveralPaths_ReturnsEachInOrder()
    {
        var dialog = Script("printf '/srv/a.png\\n/srv/b é.png\\n'");
        var options = new FileChooserOptions { Multiple = true };

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.OpenFile, options), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Success, answer.Response);
        Assert.Equal(["/srv/a.png", "/srv/b é.png"], answer.Paths);
    }

    [Fact]
    public async Task OpenFile_ExitZeroWithoutOutput_AnswersCancelled()
    {
        var dialog = Script("exit 0");

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.OpenFile), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Cancelled, answer.Response);
        Assert.Empty(answer.Paths);
    }

    [Fact]
    public async Task OpenFile_ExitOne_AnswersCancelled()
    {
        // zenity's Cancel: exit 1, even with something printed.
        var dialog = Script("echo /home/user/ignored.txt; exit 1");

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.OpenFile), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Cancelled, answer.Response);
        Assert.Empty(answer.Paths);
    }

    [Fact]
    public async Task OpenFile_ExitThree_AnswersOther()
    {
        var dialog = Script("echo /home/user/ignored.txt; echo broken >&2; exit 3");

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.OpenFile), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Other, answer.Response);
        Assert.Empty(answer.Paths);
    }

    [Fact]
    public async Task ShowAsync_MissingProgram_ThrowsUnavailableNamingThePath()
    {
        var missing = Path.Combine(folder.FullName, "no-such-dialog");
        var dialog = new CommandFileDialog([missing]);

        var error = await Assert.ThrowsAsync<DialogUnavailableException>(
            () => dialog.ShowAsync(Request(FileChooserMethod.OpenFile), CancellationToken.None));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShowAsync_CloseCancelled_KillsTheProgramAndAnswersOther()
    {
        var pids = Path.Combine(folder.FullName, "pids");
        // The shell and a child it waits on, as a real dialog wrapper would have.
        var dialog = Script($"sleep 300 & echo \"$$ $!\" > '{pids}.tmp' && mv '{pids}.tmp' '{pids}'; wait");
        using var close = new CancellationTokenSource();

        var answer = dialog.ShowAsync(Request(FileChooserMethod.OpenFile), close.Token);
        var started = await ReadPidsAsync(pids);
        Assert.All(started, pid => Assert.True(IsRunning(pid), $"pid {pid} should run before the close"));
        await close.CancelAsync();
        var result = await answer.WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Other, result.Response);
        Assert.Empty(result.Paths);
        foreach (var pid in started)
        {
            Assert.True(await GoneWithinAsync(pid, TimeSpan.FromSeconds(5)), $"pid {pid} still runs after the close");
        }
    }

    [Fact]
    public async Task ShowAsync_Request_ReachesTheProgramAsEnvironment()
    {
        var dump = Path.Combine(folder.FullName, "env");
        Directory.CreateDirectory(dump);
        var names = new[] { "METHOD", "VM", "TITLE", "MULTIPLE", "DIRECTORY", "CURRENT_FOLDER", "CURRENT_NAME", "CURRENT_FILE", "FILES" };
        var dialog = Script(
            $"for v in {string.Join(' ', names)}; do printenv SPECTRUM_PORTAL_$v > '{dump}'/$v; done; echo /srv/out");
        var options = new FileChooserOptions
        {
            CurrentFolder = "/srv/Documents",
            CurrentName = "draft é.txt",
            Files = ["one.csv", "two.csv"],
        };

        var answer = await dialog.ShowAsync(
            new DialogRequest(FileChooserMethod.SaveFiles, "editor", "editor wants to save files", options),
            CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Success, answer.Response);
        // printenv ends each value with a newline, and prints nothing (exit 1) for an unset variable.
        string Read(string name) => File.ReadAllText(Path.Combine(dump, name));
        Assert.Equal("SaveFiles\n", Read("METHOD"));
        Assert.Equal("editor\n", Read("VM"));
        Assert.Equal("editor wants to save files\n", Read("TITLE"));
        Assert.Equal("0\n", Read("MULTIPLE"));
        Assert.Equal("0\n", Read("DIRECTORY"));
        Assert.Equal("/srv/Documents\n", Read("CURRENT_FOLDER"));
        Assert.Equal("draft é.txt\n", Read("CURRENT_NAME"));
        Assert.Equal("\n", Read("CURRENT_FILE"));
        Assert.Equal("one.csv\ntwo.csv\n", Read("FILES"));
    }

    [Fact]
    public async Task SaveFiles_FolderPrinted_ReturnsEachNameInsideIt()
    {
        var dialog = Script("echo /srv/Export/");
        var options = new FileChooserOptions { Files = ["one.csv", "two.csv"] };

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.SaveFiles, options), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Success, answer.Response);
        Assert.Equal(["/srv/Export/one.csv", "/srv/Export/two.csv"], answer.Paths);
    }

    [Fact]
    public async Task OpenFile_OutputPastTheLimit_AnswersOtherWithoutWaitingForTheEnd()
    {
        // yes never stops: buffering to the end would never answer, so an answer proves the cut.
        var dialog = Script("exec /usr/bin/yes /srv/a-path-printed-forever");

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.OpenFile), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Other, answer.Response);
        Assert.Empty(answer.Paths);
    }

    [Fact]
    public async Task OpenFile_OutputJustPastTheLimitThenExitZero_AnswersOther()
    {
        // One byte over CommandFileDialog.MaxOutputBytes, then a clean exit: still refused.
        var path = "/" + new string('a', CommandFileDialog.MaxOutputBytes);
        var dialog = Script($"printf '%s' '{path}'");

        var answer = await dialog.ShowAsync(Request(FileChooserMethod.OpenFile), CancellationToken.None).WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Other, answer.Response);
        Assert.Empty(answer.Paths);
    }

    private CommandFileDialog Script(string body)
    {
        var script = Path.Combine(folder.FullName, "dialog-" + Guid.NewGuid().ToString("N") + ".sh");
        File.WriteAllText(script, "#!/bin/sh\n" + body + "\n");
        return new CommandFileDialog(["/bin/sh", script]);
    }

    private static DialogRequest Request(FileChooserMethod method, FileChooserOptions? options = null) =>
        new(method, "editor", "editor wants a file", options ?? FileChooserOptions.Empty);

    private static async Task<int[]> ReadPidsAsync(string file)
    {
        var deadline = DateTime.UtcNow + AnswerTimeout;
        while (!File.Exists(file))
        {
            Assert.True(DateTime.UtcNow < deadline, "the script never wrote its pids");
            await Task.Delay(20);
        }

        return [.. File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture))];
    }

    private static async Task<bool> GoneWithinAsync(int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsRunning(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    /// <summary>
    /// Whether the pid is a live process: a zombie (state Z in /proc/pid/stat) is dead and only
    /// waits for whoever reaps orphans here.
    /// </summary>
    private static bool IsRunning(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return false;
        }

        // "pid (comm) S ...": the state follows the last ')' (comm may hold spaces and parentheses).
        var state = stat[(stat.LastIndexOf(')') + 2)..];
        return state[0] is not ('Z' or 'X');
    }
}
