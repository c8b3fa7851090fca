namespace Spectrum.Grant.Tests;

/// <summary>Bad input exits 2 with one line naming the cause and the fix, without asking a broker.</summary>
public class UsageErrorTests
{
    [Fact]
    public async Task Grant_UnknownRight_ExitsTwoNamingTheRight()
    {
        var line = (await CliRun.RunAsync("grant", "editor", "Documents", "--rights", "rx")).AssertFailed(2);
        Assert.Contains("'rx'", line, StringComparison.Ordinal);
        Assert.Contains("ro, rw", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grant_BadDuration_ExitsTwoWithExamples()
    {
        var line = (await CliRun.RunAsync("grant", "editor", "Documents", "--expires", "8x")).AssertFailed(2);
        Assert.Contains("'8x'", line, StringComparison.Ordinal);
        Assert.Contains("8h", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grant_AbsolutePath_ExitsTwoAskingForRelative()
    {
        var line = (await CliRun.RunAsync("grant", "editor", "/etc/passwd")).AssertFailed(2);
        Assert.Contains("'/etc/passwd' is absolute", line, StringComparison.Ordinal);
        Assert.Contains("relative to the tree", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("Documents/../.ssh")]
    public async Task Grant_DotDotPath_ExitsTwo(string path)
    {
        var line = (await CliRun.RunAsync("grant", "editor", path)).AssertFailed(2);
        Assert.Contains("'..'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grant_NulInPath_ExitsTwoOnOneLine()
    {
        var line = (await CliRun.RunAsync("grant", "editor", "Documents\0/x")).AssertFailed(2);
        Assert.Contains("NUL", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grant_NewlineInPath_StaysOneLine()
    {
        var line = (await CliRun.RunAsync("grant", "editor", "/a\nb")).AssertFailed(2);
        Assert.Contains("\\x0a", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Editor")]
    [InlineData("-editor")]
    [InlineData("a/b")]
    public async Task Grant_BadVmName_ExitsTwo(string vm)
    {
        var line = (await CliRun.RunAsync("grant", vm, "Documents")).AssertFailed(2);
        Assert.Contains("bad VM name", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_ExitsTwoAndSuggestsTheClosest()
    {
        var line = (await CliRun.RunAsync("grnt", "editor", "Documents")).AssertFailed(2);
        Assert.Contains("unknown command 'grnt'", line, StringComparison.Ordinal);
        Assert.Contains("did you mean 'grant'?", line, StringComparison.Ordinal);
        Assert.Contains("spectrum-grant --help", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownOption_ExitsTwoNamingIt()
    {
        var line = (await CliRun.RunAsync("list", "--al")).AssertFailed(2);
        Assert.Contains("unknown option '--al'", line, StringComparison.Ordinal);
        Assert.Contains("'--all'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingArgument_ExitsTwoNamingTheArgument()
    {
        var line = (await CliRun.RunAsync("grant", "editor")).AssertFailed(2);
        Assert.Contains("missing PATH", line, StringComparison.Ordinal);
        Assert.Contains("spectrum-grant grant --help", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingOptionValue_ExitsTwoNamingTheOption()
    {
        var line = (await CliRun.RunAsync("audit", "--limit")).AssertFailed(2);
        Assert.Contains("--limit needs a value", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoCommand_ExitsTwo()
    {
        var line = (await CliRun.RunAsync()).AssertFailed(2);
        Assert.Contains("no command given", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GroupWithoutSubcommand_ExitsTwoListingThem()
    {
        var line = (await CliRun.RunAsync("policy")).AssertFailed(2);
        Assert.Contains("check, diff, apply", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("100001")]
    [InlineData("-5")]
    [InlineData("ten")]
    public async Task Audit_BadLimit_ExitsTwo(string limit)
    {
        var line = (await CliRun.RunAsync("audit", "--limit", limit)).AssertFailed(2);
        Assert.Contains("--limit", line, StringComparison.Ordinal);
        Assert.Contains("1 to 100000", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_BadSince_ExitsTwo()
    {
        var line = (await CliRun.RunAsync("audit", "--since", "yesterday")).AssertFailed(2);
        Assert.Contains("--since", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_UnknownAction_ExitsTwoListingActions()
    {
        var line = (await CliRun.RunAsync("audit", "--action", "explode")).AssertFailed(2);
        Assert.Contains("policy-apply", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_NeitherIdNorVm_ExitsTwo()
    {
        (await CliRun.RunAsync("revoke")).AssertFailed(2);
        (await CliRun.RunAsync("revoke", "--path", "Documents")).AssertFailed(2);
        (await CliRun.RunAsync("revoke", "g_1", "--vm", "editor")).AssertFailed(2);
    }

    [Fact]
    public async Task PolicyCheck_MissingDirectory_ExitsTwo()
    {
        var line = (await CliRun.RunAsync("policy", "check", "/nonexistent/spectrum-policies")).AssertFailed(2);
        Assert.Contains("/nonexistent/spectrum-policies does not exist", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsageErrors_NeverReachTheBroker()
    {
        await using var broker = new FakeBroker();
        (await CliRun.RunAsync(["grant", "editor", "/etc/passwd"], socket: broker.SocketPath)).AssertFailed(2);
        (await CliRun.RunAsync(["audit", "--limit", "0"], socket: broker.SocketPath)).AssertFailed(2);
        (await CliRun.RunAsync(["list", "--path", "../x"], socket: broker.SocketPath)).AssertFailed(2);
        Assert.Empty(broker.Requests);
    }

    [Fact]
    public async Task Help_ExitsZeroAndDocumentsStdinTokensAndExitCodes()
    {
        var run = await CliRun.RunAsync("--help");
        run.AssertOk();
        Assert.Contains("give TOKEN as - to read it from standard input", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("3 broker unreachable", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("[suggest]", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SuggestDirective_CompletesSubcommands()
    {
        var run = await CliRun.RunAsync("[suggest:2]", "gr");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("grant", run.StdoutLines);
    }
}
