using System.Diagnostics;
using Spectrum.Broker.Portal;
using Spectrum.Broker.Portal.Dialog;
using Xunit.Abstractions;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>The real xdg-desktop-portal-gtk on a private bus and display, driven by xdotool.</summary>
[Collection(DesktopCollection.Name)]
public sealed class DbusFileDialogTests(DesktopFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);

    private readonly DirectoryInfo tree = Directory.CreateTempSubdirectory("spectrum-dialog-");
    private readonly CancellationTokenSource teardown = new();
    private DbusFileDialog? dialog;

    private PortalDesktop Desktop => fixture.Desktop;

    private DbusFileDialog Dialog => dialog ??= new DbusFileDialog(Desktop.BusAddress);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>A failed test's dialog is closed through the portal, so it cannot take the next test's keys.</summary>
    public async Task DisposeAsync()
    {
        await teardown.CancelAsync();
        await Task.Delay(300);
        dialog?.Dispose();
        teardown.Dispose();
        tree.Delete(recursive: true);
    }

    [DesktopFact]
    public async Task OpenFile_PickedByKeyboard_ReturnsHostPath()
    {
        var file = Write("Documents/report.odt");
        var started = Stopwatch.StartNew();
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "editor wants to open a file"), teardown.Token);

        await Desktop.WaitForDialogAsync("editor wants to open a file");
        var mapped = started.Elapsed;
        await Desktop.PickAsync(file);
        var typed = started.Elapsed;
        var result = await answer.WaitAsync(AnswerTimeout);
        output.WriteLine($"OpenFile: call -> focused dialog {mapped.TotalMilliseconds:F0} ms; keys typed at {typed.TotalMilliseconds:F0} ms; Return -> answer {(started.Elapsed - typed).TotalMilliseconds:F0} ms (includes the 200 ms settle before Return)");

        Assert.Equal(PortalResponse.Success, result.Response);
        Assert.Equal([file], result.Paths);
        // xdg-desktop-portal-gtk 1.14 answers writable=true unless "Open files read-only" is ticked.
        Assert.True(result.Writable);
    }

    [DesktopFact]
    public async Task OpenFile_Title_IsTheDialogWindowName()
    {
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "VM editor wants to open a file"), teardown.Token);

        var window = await Desktop.WaitForDialogAsync("VM editor wants to open a file");
        Assert.Equal("VM editor wants to open a file", await Desktop.WindowNameAsync(window));

        var shot = Path.Combine(Path.GetTempPath(), "spectrum-portal-artifacts", "dialog.png");
        await Desktop.ScreenshotAsync(shot);
        output.WriteLine("screenshot of the open dialog: " + shot);
        Assert.True(new FileInfo(shot).Length > 0);

        await Desktop.CancelAsync();
        Assert.Equal(PortalResponse.Cancelled, (await answer.WaitAsync(AnswerTimeout)).Response);
    }

    [DesktopFact]
    public async Task OpenFile_Multiple_ReturnsTheTypedPickAsAList()
    {
        // The location entry takes one path; selecting several by keyboard in the list is not driven yet.
        var a = Write("Pictures/a.png");
        Write("Pictures/b.png");
        var options = new FileChooserOptions { Multiple = true };
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "viewer wants to open files", options), teardown.Token);

        await Desktop.WaitForDialogAsync("viewer wants to open files");
        await Desktop.PickAsync(a);
        var result = await answer.WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Success, result.Response);
        Assert.Equal([a], result.Paths);
    }

    [DesktopFact]
    public async Task OpenFile_Directory_ReturnsTheFolder()
    {
        Write("Music/Album/track.ogg");
        var folder = Path.Combine(tree.FullName, "Music", "Album");
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "player wants a folder", new FileChooserOptions { Directory = true }), teardown.Token);

        await Desktop.WaitForDialogAsync("player wants a folder");
        await Desktop.PickFolderAsync(folder);
        var result = await answer.WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Success, result.Response);
        Assert.Equal([folder], result.Paths);
    }

    [DesktopFact]
    public async Task SaveFile_CurrentNameAndFolder_ReturnsTheTypedNewPath()
    {
        Write("Documents/old.txt");
        var folder = Path.Combine(tree.FullName, "Documents");
        var target = Path.Combine(folder, "new name é.txt");
        var options = new FileChooserOptions { CurrentName = "draft.txt", CurrentFolder = folder };
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.SaveFile, "editor wants to save a file", options), teardown.Token);

        await Desktop.WaitForDialogAsync("editor wants to save a file");
        await Desktop.SaveAsAsync(target);
        var result = await answer.WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Success, result.Response);
        Assert.Equal([target], result.Paths);
        Assert.False(File.Exists(target));
    }

    [DesktopFact]
    public async Task SaveFiles_ChosenFolder_ReturnsEachFileInsideIt()
    {
        Write("Export/keep.txt");
        var folder = Path.Combine(tree.FullName, "Export");
        var options = new FileChooserOptions { Files = ["one.csv", "two.csv"] };
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.SaveFiles, "sheet wants to save files", options), teardown.Token);

        await Desktop.WaitForDialogAsync("sheet wants to save files");
        await Desktop.PickFolderAsync(folder);
        var result = await answer.WaitAsync(AnswerTimeout);

        // xdg-desktop-portal-gtk answers SaveFiles with one URI per requested name, inside the chosen folder.
        Assert.Equal(PortalResponse.Success, result.Response);
        Assert.Equal([Path.Combine(folder, "one.csv"), Path.Combine(folder, "two.csv")], result.Paths);
    }

    [DesktopFact]
    public async Task OpenFile_CancelButton_AnswersCancelled()
    {
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "editor asks then cancels"), teardown.Token);

        await Desktop.WaitForDialogAsync("editor asks then cancels");
        await Desktop.CancelAsync();
        var result = await answer.WaitAsync(AnswerTimeout);

        Assert.Equal(PortalResponse.Cancelled, result.Response);
        Assert.Empty(result.Paths);
    }

    [DesktopFact]
    public async Task OpenFile_Escape_AnswersOther()
    {
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "editor asks then escapes"), teardown.Token);

        await Desktop.WaitForDialogAsync("editor asks then escapes");
        await Desktop.EscapeAsync();
        var result = await answer.WaitAsync(AnswerTimeout);

        // GTK turns Escape into a delete event, which xdg-desktop-portal-gtk 1.14.1 answers with 2.
        Assert.Equal(PortalResponse.Other, result.Response);
        Assert.Empty(result.Paths);
    }

    [DesktopFact]
    public async Task OpenFile_CloseToken_ClosesTheDialogAndAnswersOther()
    {
        using var close = new CancellationTokenSource();
        var answer = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "editor is stopped mid-dialog"), close.Token);
        await Desktop.WaitForDialogAsync("editor is stopped mid-dialog");

        var closing = Stopwatch.StartNew();
        await close.CancelAsync();
        var result = await answer.WaitAsync(AnswerTimeout);
        output.WriteLine($"Close -> answer {closing.Elapsed.TotalMilliseconds:F0} ms");

        Assert.Equal(PortalResponse.Other, result.Response);
        Assert.True(await Desktop.WaitForGoneAsync("editor is stopped mid-dialog", TimeSpan.FromSeconds(5)), "the dialog is still on screen");
    }

    [DesktopFact]
    public async Task ShowAsync_TwoDialogsAtOnce_OneConnectionServesBoth()
    {
        var first = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "first VM dialog"), teardown.Token);
        await Desktop.WaitForDialogAsync("first VM dialog");
        var file = Write("b.txt");
        var second = Dialog.ShowAsync(Request(FileChooserMethod.OpenFile, "second VM dialog"), teardown.Token);

        await Desktop.WaitForDialogAsync("second VM dialog");
        await Desktop.PickAsync(file);
        Assert.Equal([file], (await second.WaitAsync(AnswerTimeout)).Paths);
        Assert.False(first.IsCompleted);

        await Desktop.WaitForDialogAsync("first VM dialog");
        await Desktop.CancelAsync();
        Assert.Equal(PortalResponse.Cancelled, (await first.WaitAsync(AnswerTimeout)).Response);
    }

    [DesktopFact]
    public async Task ShowAsync_UnownedBackendName_UnavailableNamingIt()
    {
        using var nobody = new DbusFileDialog(Desktop.BusAddress, "org.example.NoSuchPortal");

        var e = await Assert.ThrowsAsync<DialogUnavailableException>(() => nobody.ShowAsync(Request(FileChooserMethod.OpenFile, "x"), teardown.Token));

        Assert.StartsWith("no file dialog on the session bus: nothing owns or can start org.example.NoSuchPortal (org.freedesktop.DBus.Error.ServiceUnknown)", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public async Task ShowAsync_NoBusAtAddress_UnavailableNamingTheAddress()
    {
        var address = "unix:path=" + Path.Combine(tree.FullName, "no-bus");
        using var unreachable = new DbusFileDialog(address);

        var e = await Assert.ThrowsAsync<DialogUnavailableException>(() => unreachable.ShowAsync(Request(FileChooserMethod.OpenFile, "x"), teardown.Token));

        Assert.StartsWith($"cannot connect to the session bus at '{address}'", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("set [portal] bus in broker.toml or DBUS_SESSION_BUS_ADDRESS to a running session bus", e.Message, StringComparison.Ordinal);
    }

    [NoSessionBusFact]
    public async Task ShowAsync_NoAddressAnywhere_UnavailableSayingWhatToSet()
    {
        using var unset = new DbusFileDialog();

        var e = await Assert.ThrowsAsync<DialogUnavailableException>(() => unset.ShowAsync(Request(FileChooserMethod.OpenFile, "x"), teardown.Token));

        Assert.Equal("no session bus: set [portal] bus in broker.toml or DBUS_SESSION_BUS_ADDRESS", e.Message);
    }

    [Theory]
    [InlineData("file:///home/u/a%20b.txt", "/home/u/a b.txt")]
    [InlineData("file://localhost/etc/hostname", "/etc/hostname")]
    [InlineData("file:///home/u/%C3%A9t%C3%A9/", "/home/u/été")]
    [InlineData("file:///", "/")]
    [InlineData("https://example.org/a", null)]
    [InlineData("file://host/a", null)]
    [InlineData("file:a", null)]
    [InlineData("file:///a/../etc/shadow", null)]
    [InlineData("file:///a/%2e%2e/etc", null)]
    [InlineData("file:///a%00b", null)]
    [InlineData("file:///a%C3", null)]
    [InlineData("file:///a%2", null)]
    [InlineData("file:///a?b", null)]
    public void PathFromUri_DecodesOnlyCanonicalFileUris(string uri, string? expected) =>
        Assert.Equal(expected, DbusFileDialog.PathFromUri(uri));

    /// <summary>
    /// A folder typed into the location entry: Return may first open the folder, and a second
    /// Return accepts it (the second goes nowhere when the first already answered).
    /// </summary>
    private string Write(string relative)
    {
        var path = Path.Combine(tree.FullName, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, relative);
        return path;
    }

    private static DialogRequest Request(FileChooserMethod method, string title, FileChooserOptions? options = null) =>
        new(method, "editor", title, options ?? FileChooserOptions.Empty);
}

/// <summary>Runs only where the test process has no DBUS_SESSION_BUS_ADDRESS (so "no bus" is real).</summary>
public sealed class NoSessionBusFactAttribute : FactAttribute
{
    public NoSessionBusFactAttribute()
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DBUS_SESSION_BUS_ADDRESS")))
        {
            Skip = "DBUS_SESSION_BUS_ADDRESS is set in the test environment";
        }
    }
}
