using System.Text.RegularExpressions;
using Spectrum.Interop;
using Xunit.Abstractions;
using static Spectrum.Broker.Tests.Views.ViewSecNative;

namespace Spectrum.Broker.Tests.Views;

/// <summary>
/// A guest or a local user flooding refusals cannot grow the audit log without bound (issue 14,
/// item 6): on the real daemon, its real views and its real SQLite file, with a 1 s deny interval.
/// </summary>
public sealed partial class AuditFloodTests(ViewSecFixture fixture, ITestOutputHelper output) : IClassFixture<ViewSecFixture>
{
    private const int MaxPathBytes = 4096;
    private const int MaxDetailBytes = 1024;

    [Fact]
    public async Task HundredThousandDeniedCreatesOfDistinctNames_WriteABoundedNumberOfRows_WithTheTotalCount_AndTheChainVerifies()
    {
        var a = fixture.NewArea("flood");
        await fixture.GrantAsync("flood", a, "ro");
        var dir = Path.Combine(fixture.View("flood"), a);
        const int Attempts = 100_000;

        for (var i = 0; i < Attempts; i++)
        {
            var e = TryOpen(Path.Combine(dir, $"f{i}"), O_WRONLY | O_CREAT);
            Assert.True(e == Errno.EACCES, $"create #{i} answered {e}, not EACCES");
        }

        var denials = await fixture.DenialsAsync("flood");
        var rows = await Tools.SqliteAsync(fixture.Dirs.Database, "SELECT count(*) FROM audit WHERE action = 'deny' AND vm = 'flood'");
        output.WriteLine($"{Attempts} denied creates: {rows.Trim()} deny rows; broker.db {new FileInfo(fixture.Dirs.Database).Length} bytes, -wal {new FileInfo(fixture.Dirs.Database + "-wal").Length} bytes");

        // One row per (vm, create, directory) per 1 s interval, whatever the number of names.
        Assert.InRange(denials.Count, 1, 200);
        Assert.Equal(denials.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), rows.Trim());
        Assert.All(denials, r => Assert.Equal(a, r.Path));
        Assert.All(denials, r => Assert.Matches(@"^create refused \d+ times? in the view, e\.g\. 'f\d+'$", r.Detail));
        Assert.Equal(Attempts, denials.Sum(r => Count(r.Detail)));
        Assert.True((await fixture.Client.VerifyAuditAsync()).Ok);
    }

    [Fact]
    public async Task DeniedCreate_DeepInATreeWithANonUtf8Name_IsRecordedAgainstTheGrant_AndTheNameEscapedAndCut()
    {
        var a = fixture.NewArea("deep");
        var component = new string('d', 250);
        // Made on the host one relative component at a time: 5,019 bytes below the area.
        var (exit, _, stderr) = await Tools.RunAsync("bash", "-c", $"cd '{fixture.Host(a)}' && for i in $(seq 20); do mkdir {component} && cd {component} || exit 1; done");
        Assert.True(exit == 0, stderr);
        await fixture.GrantAsync("deep", a, "ro");
        await Task.Delay(1200); // the grant's records settle into an earlier interval

        // In the view the walk down stops at PATH_MAX (4095 bytes of view path): a guest cannot make
        // the broker hold, or record, a path longer than that.
        (exit, _, _) = await Tools.RunAsync("bash", "-c", $"cd '{Path.Combine(fixture.View("deep"), a)}' && for i in $(seq 20); do cd {component} || exit 1; done");
        Assert.Equal(1, exit);

        // 10 levels down (2,510 bytes), a create of a 250-byte name of 0xff bytes (not UTF-8).
        (exit, _, stderr) = await Tools.RunAsync("bash", "-c", $"cd '{Path.Combine(fixture.View("deep"), a)}' && for i in $(seq 10); do cd {component} || exit 1; done; : > $'{string.Concat(Enumerable.Repeat("\\xff", 250))}' 2>/dev/null && exit 2; exit 0");
        Assert.True(exit == 0, $"bash {exit}: {stderr}");

        // Recorded against the grant (its root), never the guest's deep path.
        var record = Assert.Single(await fixture.DenialsAsync("deep"));
        Assert.Equal(a, record.Path);
        var sample = SamplePattern().Match(record.Detail!);
        Assert.True(sample.Success, record.Detail);
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(sample.Groups[1].Value), 250, 255);
        Assert.StartsWith(@"\xff\xff\xff", sample.Groups[1].Value, StringComparison.Ordinal);
        Assert.EndsWith("…", sample.Groups[1].Value, StringComparison.Ordinal);
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(record.Detail!), 1, MaxDetailBytes);
        Assert.True((await fixture.Client.VerifyAuditAsync()).Ok);
    }

    [Fact]
    public async Task TenThousandRefusedApiCallsFromOneUid_WriteABoundedNumberOfRows_WithTheTotalCount()
    {
        const int Calls = 10_000;
        const int Uid = 65533;
        // One curl as that uid: URL globbing makes 10,000 requests on one kept-alive connection.
        var (exit, stdout, stderr) = await Tools.RunAsync(
            "setpriv", $"--reuid={Uid}", $"--regid={Uid}", "--clear-groups",
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", "--unix-socket", fixture.Dirs.Socket, $"http://broker/v1/grants?n=[1-{Calls}]");
        Assert.True(exit == 0, $"setpriv/curl failed ({exit}): {stderr}");
        Assert.Equal(Enumerable.Repeat("403", Calls), stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        await Task.Delay(2500); // one deny interval and some slack
        var rows = (await fixture.Client.AuditAsync()).Where(r => r.Action == "deny" && r.Actor == $"uid:{Uid}").ToList();
        output.WriteLine($"{Calls} refused API calls: {rows.Count} deny rows; broker.db {new FileInfo(fixture.Dirs.Database).Length} bytes, -wal {new FileInfo(fixture.Dirs.Database + "-wal").Length} bytes");

        Assert.InRange(rows.Count, 1, 200);
        Assert.Contains(rows, r => r.Detail!.StartsWith("admin API GET /v1/grants refused: uid 65533", StringComparison.Ordinal));
        Assert.Equal(Calls, rows.Sum(r => ApiCount(r.Detail)));
        Assert.True((await fixture.Client.VerifyAuditAsync()).Ok);
    }

    [Fact]
    public async Task RefusedApiCall_WithAnOverlongUrl_IsRecordedWithItsDetailCut()
    {
        const int Uid = 65532;
        var (exit, stdout, stderr) = await Tools.RunAsync(
            "setpriv", $"--reuid={Uid}", $"--regid={Uid}", "--clear-groups",
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", fixture.Dirs.Socket, "http://broker/v1/grants/" + new string('x', 6000));
        Assert.True(exit == 0, $"setpriv/curl failed ({exit}): {stderr}");
        Assert.Equal("403", stdout);

        var record = Assert.Single(await fixture.Client.AuditAsync(), r => r.Actor == $"uid:{Uid}");
        Assert.StartsWith("admin API GET /v1/grants/xxxx", record.Detail, StringComparison.Ordinal);
        Assert.InRange(System.Text.Encoding.UTF8.GetByteCount(record.Detail!), MaxDetailBytes - 3, MaxDetailBytes);
        Assert.EndsWith("…", record.Detail, StringComparison.Ordinal);
        Assert.True((await fixture.Client.VerifyAuditAsync()).Ok);
    }

    private static long Count(string? detail)
    {
        var m = CountPattern().Match(detail ?? "");
        Assert.True(m.Success, detail);
        return long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A first refusal counts one; an interval's summary counts what it says.</summary>
    private static long ApiCount(string? detail)
    {
        var m = ApiCountPattern().Match(detail ?? "");
        return m.Success ? long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 1;
    }

    [GeneratedRegex(@"refused (\d+) times? in the view")]
    private static partial Regex CountPattern();

    [GeneratedRegex(@"^admin API refused (\d+) times? more")]
    private static partial Regex ApiCountPattern();

    [GeneratedRegex(@"e\.g\. '(.*)'$")]
    private static partial Regex SamplePattern();
}
