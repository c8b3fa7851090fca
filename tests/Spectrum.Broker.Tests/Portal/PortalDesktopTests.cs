namespace Spectrum.Broker.Tests.Portal;

/// <summary>
/// The whole host side with nothing faked but the VMM: a VM's channel asks, the broker calls the
/// real xdg-desktop-portal-gtk on a private session bus under Xvfb, xdotool picks as a user
/// would, and the pick is granted, shown in the view at its real path, and audited.
/// </summary>
[Collection(DesktopCollection.Name)]
public sealed class PortalDesktopTests(DesktopFixture fixture) : IAsyncLifetime
{
    private static readonly Lazy<GuestImage> Guest = new(() => new GuestImage());

    /// <summary>Where the dialog's screenshot is kept for a person to look at.</summary>
    public static readonly string Artifacts = Path.Combine(Path.GetTempPath(), "spectrum-portal-artifacts");

    private PortalRig rig = null!;

    private PortalDesktop Desktop => fixture.Desktop;

    public async Task InitializeAsync()
    {
        if (PortalDesktop.Missing is null && QemuFactAttribute.Available)
        {
            rig = await PortalRig.StartAsync(Guest.Value, ["editor"], brokerPortalToml: $"[portal]\nbus = \"{fixture.Desktop.BusAddress}\"\n");
        }
    }

    public async Task DisposeAsync()
    {
        if (rig is not null)
        {
            await rig.DisposeAsync();
        }
    }

    [DesktopFact]
    public async Task OpenFile_InTheRealGtkDialog_GrantsThePick_ShowsItInTheView_AndTheTitleNamesTheVm()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "OpenFile", """{"title":"Open report"}""");
        var window = await Desktop.WaitForDialogAsync("editor wants to open a file");
        var title = await Desktop.WindowNameAsync(window);
        var shot = Path.Combine(Artifacts, "broker-open-dialog.png");
        await Desktop.ScreenshotAsync(shot);
        Console.WriteLine($"dialog screenshot: {shot}");
        await Desktop.PickAsync(rig.TreePath("Documents/report.txt"));
        var reply = (await guestEnd.ReplyToAsync(1, TimeSpan.FromSeconds(30))).GetProperty("result");
        var view = Path.Combine(rig.View("editor"), "Documents", "report.txt");

        Assert.Equal("the report", await File.ReadAllTextAsync(view));
        Assert.Equal("editor wants to open a file: Open report", title);
        Assert.Equal(0, reply.GetProperty("response").GetInt32());
        Assert.Equal("file:///run/virtiofs/virtiofs0/Documents/report.txt", reply.GetProperty("uris")[0].GetString());

        // GTK answers writable unless its read-only box is ticked; max_rights is rw here.
        Assert.True(reply.GetProperty("writable").GetBoolean());
        var grant = Assert.Single(await rig.Client.ListAsync("editor"));
        Assert.Equal(("Documents/report.txt", "rw", "portal", "OpenFile via org.freedesktop.impl.portal.desktop.gtk"), (grant.Path, grant.Rights, grant.Source, grant.SourceDetail));
        Assert.Equal(grant.Id, Assert.Single(await rig.Client.AuditAsync("&vm=editor&action=grant")).GrantId);
        Assert.True(File.Exists(shot));
    }

    [DesktopFact]
    public async Task SaveFile_OfANewName_InTheRealDialog_ThenAWriteTempAndRename_SavesExactlyThatFile()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "SaveFile", """{"current_name":"minutes.txt"}""");
        await Desktop.WaitForDialogAsync("editor wants to save a file");
        await Desktop.SaveAsAsync(rig.TreePath("Downloads/minutes.txt"));
        var reply = (await guestEnd.ReplyToAsync(1, TimeSpan.FromSeconds(30))).GetProperty("result");
        var downloads = Path.Combine(rig.View("editor"), "Downloads");
        await File.WriteAllTextAsync(Path.Combine(downloads, ".minutes.txt.tmp"), "saved");
        File.Move(Path.Combine(downloads, ".minutes.txt.tmp"), Path.Combine(downloads, "minutes.txt"), overwrite: true);

        Assert.Equal("file:///run/virtiofs/virtiofs0/Downloads/minutes.txt", reply.GetProperty("uris")[0].GetString());
        Assert.Equal("saved", await File.ReadAllTextAsync(rig.TreePath("Downloads/minutes.txt")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(rig.TreePath("Downloads")).Select(Path.GetFileName), n => n!.StartsWith('.'));
        Assert.Equal(["minutes.txt"], Directory.GetFileSystemEntries(downloads).Select(Path.GetFileName));
        Assert.Equal("Downloads/minutes.txt", Assert.Single(await rig.Client.ListAsync("editor")).Path);
    }

    [DesktopFact]
    public async Task Cancel_InTheRealDialog_IsResponse1_AndCloseFromTheGuest_ClosesIt_WithResponse2()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "OpenFile");
        await Desktop.WaitForDialogAsync("editor wants to open a file");
        await Desktop.CancelAsync();
        var cancelled = (await guestEnd.ReplyToAsync(1, TimeSpan.FromSeconds(30))).GetProperty("result");
        await guestEnd.RequestAsync(2, "OpenFile");
        await Desktop.WaitForDialogAsync("editor wants to open a file");
        await guestEnd.SendLineAsync("""{"jsonrpc":"2.0","id":3,"method":"Close","params":{"id":2}}""");
        var closed = (await guestEnd.ReplyToAsync(2, TimeSpan.FromSeconds(30))).GetProperty("result");

        Assert.Equal(1, cancelled.GetProperty("response").GetInt32());
        Assert.Equal(2, closed.GetProperty("response").GetInt32());
        Assert.True(await Desktop.WaitForGoneAsync("editor wants to open a file", TimeSpan.FromSeconds(10)), "the host dialog stayed open after the guest's Close");
        Assert.Empty(await rig.Client.ListAsync("editor", all: true));
        Assert.Equal(["cancelled", "closed"], (await rig.Client.AuditAsync("&vm=editor&action=deny")).Select(a => a.Result).Order(StringComparer.Ordinal));
    }
}
