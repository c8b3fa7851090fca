using System.Text.Json;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>
/// The portal's host side on the real daemon, with each VM's real channel socket and the command
/// fallback as the host dialog (driven by the test): what the user picks is granted exactly,
/// bound to the VM that asked, visible in its view before the reply, and audited; everything a
/// guest can send wrongly is answered or cut off without touching another VM (SECURITY-TESTS.md F, G).
/// </summary>
[Collection(Vms.GuestCollection.Name)]
public sealed class PortalChannelTests(GuestImage guest) : IAsyncLifetime
{
    private PortalRig rig = null!;

    private BrokerClient Client => rig.Client;

    public async Task InitializeAsync() => rig = await PortalRig.StartAsync(guest, ["editor", "viewer"]);

    public async Task DisposeAsync() => await rig.DisposeAsync();

    [QemuFact]
    public async Task OpenFile_ThePickIsGrantedReadOnly_AtItsRealPathInTheView_BeforeTheReply_AndAudited()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "OpenFile", """{"title":"Open report"}""");
        var dialog = Assert.Single(await rig.DialogsAsync());
        rig.Answer("editor", 0, rig.TreePath("Documents/report.txt"));
        var reply = await guestEnd.ReplyToAsync(1);

        // Read at once, before anything else: the grant must be in the view when the reply is sent.
        var uri = reply.GetProperty("result").GetProperty("uris")[0].GetString()!;
        var viewPath = Path.Combine(rig.View("editor"), uri["file:///run/virtiofs/virtiofs0/".Length..]);
        Assert.Equal("the report", await File.ReadAllTextAsync(viewPath));

        Assert.Equal(("editor", "OpenFile", "editor wants to open a file: Open report"), (dialog[0], dialog[1], dialog[2]));
        Assert.Equal(0, reply.GetProperty("result").GetProperty("response").GetInt32());
        Assert.Equal("file:///run/virtiofs/virtiofs0/Documents/report.txt", uri);
        Assert.False(reply.GetProperty("result").GetProperty("writable").GetBoolean());
        var grant = Assert.Single(await Client.ListAsync("editor"));
        Assert.Equal(("Documents/report.txt", "file", "ro", "session", "portal"), (grant.Path, grant.Kind, grant.Rights, grant.Persistence, grant.Source));
        Assert.StartsWith("OpenFile via command ", grant.SourceDetail, StringComparison.Ordinal);
        Assert.Empty(await Client.ListAsync("viewer"));
        Assert.Equal(["Documents"], Directory.GetFileSystemEntries(rig.View("editor")).Select(Path.GetFileName));
        Assert.Equal(["report.txt"], Directory.GetFileSystemEntries(Path.Combine(rig.View("editor"), "Documents")).Select(Path.GetFileName));
        Assert.Throws<UnauthorizedAccessException>(() => File.OpenWrite(viewPath).Dispose());
        var audit = Assert.Single(await Client.AuditAsync("&vm=editor&action=grant"));
        Assert.Equal(("vm:editor", "Documents/report.txt", grant.Id), (audit.Actor, audit.Path, audit.GrantId));
        Assert.Equal(grant.Id, Assert.Single((await Client.WhoCanAsync("Documents/report.txt")).Entries).GrantId);

        // The admin's view of it, through the real CLI; and its revoke ends it live.
        Assert.Matches($@"{grant.Id}\s+editor\s+Documents/report.txt\s+file\s+ro\s+portal", await CliAsync("list", "--vm", "editor"));
        Assert.Contains("portal (OpenFile via command ", await CliAsync("who-can", "Documents/report.txt"), StringComparison.Ordinal);
        Assert.Contains("Documents/report.txt", await CliAsync("audit", "--vm", "editor", "--action", "grant"), StringComparison.Ordinal);
        await CliAsync("revoke", grant.Id);
        Assert.False(File.Exists(viewPath));
    }

    private async Task<string> CliAsync(params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "spectrum-grant")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])[.. args, "--socket", rig.Dirs.Socket])
        {
            info.ArgumentList.Add(arg);
        }

        using var cli = System.Diagnostics.Process.Start(info)!;
        var stdout = cli.StandardOutput.ReadToEndAsync();
        var stderr = cli.StandardError.ReadToEndAsync();
        await cli.WaitForExitAsync();
        Assert.True(cli.ExitCode == 0, $"spectrum-grant {string.Join(' ', args)} exited {cli.ExitCode}: {await stderr}");
        return await stdout;
    }

    [QemuFact]
    public async Task APickInsideDeny_OrOutsideAllow_IsRefused_Response2_AuditedAsDeny_AndNothingIsGranted()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "OpenFile");
        await rig.DialogsAsync(1);
        rig.Answer("editor", 0, rig.TreePath(".ssh/id_rsa"));
        var denied = await guestEnd.ReplyToAsync(1);
        await guestEnd.RequestAsync(2, "OpenFile");
        await rig.DialogsAsync(2);
        rig.Answer("editor", 0, rig.TreePath("Music/song.ogg"));
        var outside = await guestEnd.ReplyToAsync(2);
        await guestEnd.RequestAsync(3, "OpenFile", """{"multiple":true}""");
        await rig.DialogsAsync(3);
        rig.Answer("editor", 0, rig.TreePath("Documents/report.txt"), rig.TreePath("Documents/secret/plan.txt"));
        var mixed = await guestEnd.ReplyToAsync(3);

        foreach (var reply in new[] { denied, outside, mixed })
        {
            Assert.Equal(2, reply.GetProperty("result").GetProperty("response").GetInt32());
            Assert.Equal(0, reply.GetProperty("result").GetProperty("uris").GetArrayLength());
        }

        Assert.Empty(await Client.ListAsync("editor", all: true));
        Assert.Empty(Directory.GetFileSystemEntries(rig.View("editor")));
        var denies = await Client.AuditAsync("&vm=editor&action=deny");
        Assert.Contains(denies, d => d.Path == ".ssh/id_rsa" && d.Detail!.Contains("matches [portal] deny \".ssh/**\"", StringComparison.Ordinal));
        Assert.Contains(denies, d => d.Path == "Music/song.ogg" && d.Detail!.Contains("matches no [portal] allow glob", StringComparison.Ordinal));
        Assert.Contains(denies, d => d.Path == "Documents/secret/plan.txt" && d.Detail!.Contains("deny \"Documents/secret/**\"", StringComparison.Ordinal));
        Assert.DoesNotContain(await Client.AuditAsync("&vm=editor&action=grant"), _ => true);
    }

    [QemuFact]
    public async Task Cancel_AnswersResponse1_AndIsAudited_AndClose_ClosesTheHostDialog_AndAnswersResponse2()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "OpenFile");
        await rig.DialogsAsync(1);
        rig.Answer("editor", 1);
        var cancelled = await guestEnd.ReplyToAsync(1);

        await guestEnd.RequestAsync(2, "SaveFile", """{"current_name":"new.txt"}""");
        await rig.DialogsAsync(2);
        await guestEnd.SendLineAsync("""{"jsonrpc":"2.0","id":3,"method":"Close","params":{"id":2}}""");
        var first = await guestEnd.ReadAsync();
        var second = await guestEnd.ReadAsync();
        var replies = new[] { first, second }.ToDictionary(r => r.GetProperty("id").GetInt32());

        Assert.Equal(1, cancelled.GetProperty("result").GetProperty("response").GetInt32());
        Assert.Equal(JsonValueKind.Object, replies[3].GetProperty("result").ValueKind);
        Assert.Equal(2, replies[2].GetProperty("result").GetProperty("response").GetInt32());
        Assert.Empty(await Client.ListAsync("editor", all: true));
        var results = (await Client.AuditAsync("&vm=editor&action=deny")).Select(a => a.Result).Order(StringComparer.Ordinal);
        Assert.Equal(["cancelled", "closed"], results);

        // The command was killed: an answer written now is never read by anyone.
        await Task.Delay(300);
        Assert.DoesNotContain(System.Diagnostics.Process.GetProcesses(), p => CommandLine(p).Contains(rig.Dirs.Root + "/dialog.sh", StringComparison.Ordinal));
    }

    [QemuFact]
    public async Task CurrentFolder_IsTranslatedToTheHost_OnlyWhereTheVmCanSee()
    {
        await Client.GrantAsync("editor", "Documents/notes.txt");
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "OpenFile", """{"current_folder":"/run/virtiofs/virtiofs0/Documents"}""");
        await rig.DialogsAsync(1);
        rig.Answer("editor", 1);
        await guestEnd.ReplyToAsync(1);
        await guestEnd.RequestAsync(2, "OpenFile", """{"current_folder":"/run/virtiofs/virtiofs0/Music"}""");
        await rig.DialogsAsync(2);
        rig.Answer("editor", 1);
        await guestEnd.ReplyToAsync(2);
        await guestEnd.RequestAsync(3, "OpenFile", $$"""{"current_folder":"{{rig.Dirs.Tree}}/Music"}""");
        var dialogs = await rig.DialogsAsync(3);
        rig.Answer("editor", 1);
        await guestEnd.ReplyToAsync(3);

        Assert.Equal(rig.TreePath("Documents"), dialogs[0][3]);
        Assert.Equal("", dialogs[1][3]);
        Assert.Equal("", dialogs[2][3]);
    }

    [QemuFact]
    public async Task SaveFile_OfANewName_GrantsANamedSlot_ThatTheGuestCanCreate_AndNothingElseInTheFolder()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "SaveFile", """{"current_name":"new.txt","current_folder":"/run/virtiofs/virtiofs0"}""");
        var dialog = Assert.Single(await rig.DialogsAsync());
        rig.Answer("editor", 0, rig.TreePath("Documents/new.txt"));
        var reply = (await guestEnd.ReplyToAsync(1)).GetProperty("result");

        Assert.Equal(("SaveFile", "editor wants to save a file", "new.txt"), (dialog[1], dialog[2], dialog[4]));
        Assert.Equal(0, reply.GetProperty("response").GetInt32());
        Assert.True(reply.GetProperty("writable").GetBoolean());
        Assert.Equal("file:///run/virtiofs/virtiofs0/Documents/new.txt", reply.GetProperty("uris")[0].GetString());
        var grant = Assert.Single(await Client.ListAsync("editor"));
        Assert.Equal(("Documents/new.txt", "file", "portal"), (grant.Path, grant.Kind, grant.Source));
        Assert.Equal(["read", "write", "create"], grant.Rights.Split(','));
        var documents = Path.Combine(rig.View("editor"), "Documents");
        Assert.Empty(Directory.GetFileSystemEntries(documents));

        await File.WriteAllTextAsync(Path.Combine(documents, "new.txt"), "saved from the guest");
        Assert.Equal("saved from the guest", await File.ReadAllTextAsync(rig.TreePath("Documents/new.txt")));
        Assert.Equal(["new.txt"], Directory.GetFileSystemEntries(documents).Select(Path.GetFileName));
        Assert.False(File.Exists(Path.Combine(documents, "report.txt")));

        // Another name there is the guest's own scratch file (for write-temp-then-rename): the
        // host's notes.txt of the same name is neither shown, nor touched.
        await File.WriteAllTextAsync(Path.Combine(documents, "notes.txt"), "scratch");
        Assert.Equal("notes", await File.ReadAllTextAsync(rig.TreePath("Documents/notes.txt")));
        Assert.Equal("scratch", await File.ReadAllTextAsync(Path.Combine(documents, "notes.txt")));
        File.Move(Path.Combine(documents, "notes.txt"), Path.Combine(documents, "new.txt"), overwrite: true);
        Assert.Equal("scratch", await File.ReadAllTextAsync(rig.TreePath("Documents/new.txt")));
        Assert.Equal("notes", await File.ReadAllTextAsync(rig.TreePath("Documents/notes.txt")));
        Assert.DoesNotContain(Directory.GetFiles(rig.TreePath("Documents")), f => Path.GetFileName(f).StartsWith(".spectrum-scratch-", StringComparison.Ordinal));
    }

    [QemuFact]
    public async Task TwoVms_AskingAtOnce_AreAnsweredIndependently_EachWithItsOwnGrant()
    {
        using var editor = await rig.ConnectAsync("editor");
        using var viewer = await rig.ConnectAsync("viewer");
        await editor.RequestAsync(1, "OpenFile");
        await viewer.RequestAsync(1, "OpenFile");
        var dialogs = await rig.DialogsAsync(2);

        // The viewer is answered while the editor's dialog is still open.
        rig.Answer("viewer", 0, rig.TreePath("Documents/notes.txt"));
        var viewerReply = await viewer.ReplyToAsync(1);
        Assert.Single(await Client.ListAsync("viewer"));
        Assert.Empty(await Client.ListAsync("editor"));
        rig.Answer("editor", 0, rig.TreePath("Documents/report.txt"));
        var editorReply = await editor.ReplyToAsync(1);

        Assert.Equal(["editor", "viewer"], dialogs.Select(d => d[0]).Order(StringComparer.Ordinal));
        Assert.Equal("file:///run/virtiofs/virtiofs0/Documents/notes.txt", viewerReply.GetProperty("result").GetProperty("uris")[0].GetString());
        Assert.Equal("file:///run/virtiofs/virtiofs0/Documents/report.txt", editorReply.GetProperty("result").GetProperty("uris")[0].GetString());
        Assert.Equal("Documents/report.txt", Assert.Single(await Client.ListAsync("editor")).Path);
        Assert.Equal("Documents/notes.txt", Assert.Single(await Client.ListAsync("viewer")).Path);
        Assert.False(File.Exists(Path.Combine(rig.View("viewer"), "Documents", "report.txt")));
    }

    [QemuFact]
    public async Task Revoke_EndsAPortalGrantLive_AndStoppingTheVm_EndsItsSessionGrants_AndClosesItsDialogs()
    {
        using var guestEnd = await rig.ConnectAsync("editor");
        await guestEnd.RequestAsync(1, "OpenFile");
        await rig.DialogsAsync(1);
        rig.Answer("editor", 0, rig.TreePath("Documents/report.txt"));
        await guestEnd.ReplyToAsync(1);
        var file = Path.Combine(rig.View("editor"), "Documents", "report.txt");
        Assert.True(File.Exists(file));
        await Client.RevokeAsync(Assert.Single(await Client.ListAsync("editor")).Id);
        Assert.False(File.Exists(file));

        await guestEnd.RequestAsync(2, "OpenFile");
        await rig.DialogsAsync(2);
        rig.Answer("editor", 0, rig.TreePath("Documents/notes.txt"));
        await guestEnd.ReplyToAsync(2);
        await guestEnd.RequestAsync(3, "OpenFile");
        await rig.DialogsAsync(3);
        var stop = await Client.StopVmAsync("editor");

        Assert.Equal(1, stop.SessionGrantsRevoked);
        Assert.Empty(await Client.ListAsync("editor"));
        Assert.Null(await guestEnd.ReadLineAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains(await Client.AuditAsync("&vm=editor&action=deny"), a => a.Result == "closed");
    }

    private static string CommandLine(System.Diagnostics.Process p)
    {
        try
        {
            return File.ReadAllText($"/proc/{p.Id}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
    }
}
