namespace Spectrum.Vm.Tests;

/// <summary>Bad input exits 2 with one line naming the cause and the fix, without asking a broker.</summary>
public class UsageErrorTests
{
    [Fact]
    public async Task NoCommand_ExitsTwo()
    {
        var line = (await CliRun.RunAsync()).AssertFailed(2);
        Assert.Contains("no command given", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_ExitsTwoAndSuggestsTheClosest()
    {
        var line = (await CliRun.RunAsync("strop", "editor")).AssertFailed(2);
        Assert.Contains("unknown command 'strop'", line, StringComparison.Ordinal);
        Assert.Contains("did you mean 'stop'?", line, StringComparison.Ordinal);
        Assert.Contains("spectrum-vm --help", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run")]
    [InlineData("stop")]
    [InlineData("open")]
    public async Task MissingVm_ExitsTwoNamingTheArgument(string command)
    {
        var line = (await CliRun.RunAsync(command)).AssertFailed(2);
        Assert.Contains("missing VM", line, StringComparison.Ordinal);
        Assert.Contains($"spectrum-vm {command} --help", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_MissingPath_ExitsTwoNamingTheArgument()
    {
        var line = (await CliRun.RunAsync("open", "editor")).AssertFailed(2);
        Assert.Contains("missing PATH", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run", "Editor")]
    [InlineData("stop", "-editor")]
    [InlineData("run", "a/b")]
    [InlineData("open", "../x", "Documents")]
    public async Task BadVmName_ExitsTwo(params string[] args)
    {
        var line = (await CliRun.RunAsync(args)).AssertFailed(2);
        Assert.Contains("bad VM name", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExtraArgument_ExitsTwo()
    {
        var line = (await CliRun.RunAsync("run", "editor", "viewer")).AssertFailed(2);
        Assert.Contains("'viewer'", line, StringComparison.Ordinal);
        (await CliRun.RunAsync("list", "editor")).AssertFailed(2);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("ten")]
    [InlineData("1e3")]
    [InlineData("NaN")]
    [InlineData("3601")]
    [InlineData("")]
    public async Task Stop_BadTimeout_ExitsTwoAskingForPositiveSeconds(string timeout)
    {
        var line = (await CliRun.RunAsync("stop", "editor", "--timeout", timeout)).AssertFailed(2);
        Assert.Contains("--timeout", line, StringComparison.Ordinal);
        Assert.Contains("positive number of seconds", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_TimeoutWithoutValue_ExitsTwo()
    {
        var line = (await CliRun.RunAsync("stop", "editor", "--timeout")).AssertFailed(2);
        Assert.Contains("--timeout needs a value", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_UnknownOption_SuggestsTimeout()
    {
        var line = (await CliRun.RunAsync("stop", "editor", "--timout", "5")).AssertFailed(2);
        Assert.Contains("did you mean '--timeout'?", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_AbsolutePath_ExitsTwoAskingForRelative()
    {
        var line = (await CliRun.RunAsync("open", "editor", "/etc/passwd")).AssertFailed(2);
        Assert.Contains("'/etc/passwd' is absolute", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_DotDotPath_ExitsTwo()
    {
        var line = (await CliRun.RunAsync("open", "editor", "Documents/../.ssh")).AssertFailed(2);
        Assert.Contains("'..'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_UnknownRight_ExitsTwoNamingTheRight()
    {
        var line = (await CliRun.RunAsync("open", "editor", "Documents", "--rights", "rx")).AssertFailed(2);
        Assert.Contains("'rx'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_NewlineInPath_StaysOneLine()
    {
        var line = (await CliRun.RunAsync("open", "editor", "/a\nb")).AssertFailed(2);
        Assert.Contains("\\x0a", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UsageErrors_NeverReachTheBroker()
    {
        await using var broker = new FakeBroker();
        (await CliRun.RunAsync(["stop", "editor", "--timeout", "0"], socket: broker.SocketPath)).AssertFailed(2);
        (await CliRun.RunAsync(["open", "editor", "/etc"], socket: broker.SocketPath)).AssertFailed(2);
        (await CliRun.RunAsync(["open", "editor", "Documents", "--rights", "rx"], socket: broker.SocketPath)).AssertFailed(2);
        (await CliRun.RunAsync(["run", "Editor"], socket: broker.SocketPath)).AssertFailed(2);
        (await CliRun.RunAsync(["run"], socket: broker.SocketPath)).AssertFailed(2);
        Assert.Empty(broker.Requests);
    }

    [Fact]
    public async Task Help_ExitsZeroAndDocumentsWaitsAndExitCodes()
    {
        var run = await CliRun.RunAsync("--help");
        run.AssertOk();
        Assert.Contains("3 broker unreachable", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("--timeout plus 60s", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("[suggest]", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("command -v spectrum-vm", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopHelp_DocumentsTheTimeoutDefault()
    {
        var run = await CliRun.RunAsync("stop", "--help");
        run.AssertOk();
        Assert.Contains("--timeout <SECONDS>", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("default 10", run.Stdout, StringComparison.Ordinal);
    }
}
