using System.Buffers.Text;
using System.Text;
using Spectrum.Capabilities;

namespace Spectrum.Broker.Tests;

/// <summary>No token, token tag or root key byte reaches the log, the audit, an error message or the database (SECURITY-TESTS.md F).</summary>
public sealed class LeakTests : IDisposable
{
    private const int TagLength = 32;

    private readonly TestDirs _dirs = new();

    public void Dispose() => _dirs.Dispose();

    private static byte[] TagOf(string token) => Base64Url.DecodeFromChars(token.AsSpan("spg1_".Length))[^TagLength..];

    /// <summary>The byte strings that must never be stored: token tags and root keys.</summary>
    private static IEnumerable<(string What, byte[] Bytes)> Secrets(IEnumerable<string> tokens, IEnumerable<byte[]> keys) =>
        tokens.Select((t, i) => ($"tag of token {i}", TagOf(t))).Concat(keys.Select((k, i) => ($"root key {i}", k)));

    /// <summary>How a secret could appear in text: hex either case, base64, base64url.</summary>
    private static IEnumerable<string> TextForms(byte[] bytes) =>
        [Convert.ToHexStringLower(bytes), Convert.ToHexString(bytes), Convert.ToBase64String(bytes).TrimEnd('='), Base64Url.EncodeToString(bytes)];

    private static void AssertNoSecretText(string where, string text, IReadOnlyList<string> tokens, IReadOnlyList<(string What, byte[] Bytes)> secrets, bool mayNameThePrefix = false)
    {
        // Error messages may name the format ("pass the whole spg1_ token"), never quote a token.
        Assert.False(mayNameThePrefix ? System.Text.RegularExpressions.Regex.IsMatch(text, "spg1_[A-Za-z0-9_-]") : text.Contains("spg1_", StringComparison.Ordinal), $"{where} contains spg1_: {text}");
        foreach (var token in tokens)
        {
            Assert.False(text.Contains(token[^24..], StringComparison.Ordinal), $"{where} contains the tail of a token");
        }

        foreach (var (what, bytes) in secrets)
        {
            foreach (var form in TextForms(bytes))
            {
                Assert.False(text.Contains(form, StringComparison.Ordinal), $"{where} contains the {what}");
            }
        }
    }

    private static void AssertNoSecretBytes(string file, IReadOnlyList<(string What, byte[] Bytes)> secrets)
    {
        if (!File.Exists(file))
        {
            return;
        }

        byte[] content;
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        using (var memory = new MemoryStream())
        {
            stream.CopyTo(memory);
            content = memory.ToArray();
        }

        Assert.True(content.AsSpan().IndexOf("spg1_"u8) < 0, $"{file} contains spg1_");
        foreach (var (what, bytes) in secrets)
        {
            Assert.True(content.AsSpan().IndexOf(bytes) < 0, $"{file} contains the raw {what}");
            foreach (var form in TextForms(bytes))
            {
                Assert.True(content.AsSpan().IndexOf(Encoding.ASCII.GetBytes(form)) < 0, $"{file} contains the {what} as text");
            }
        }
    }

    private static IEnumerable<byte[]> ReadKeys(string rootKey) =>
        File.ReadAllLines(rootKey).Skip(1).Where(l => l.Length > 0).Select(l => Convert.FromHexString(l.Split(' ')[2]));

    [Fact]
    public async Task TraceRun_WithTokensVerifiesRedeemsAndFailures_LeaksNoTokenTagOrKey()
    {
        var tokens = new List<string>();
        var keys = new List<byte[]>();
        var messages = new StringBuilder();
        var rootKey = Path.Combine(_dirs.State, "root.key");
        await using var broker = await BrokerProcess.StartAsync(_dirs);
        var c = broker.Client;
        keys.AddRange(ReadKeys(rootKey));

        var editor = await c.GrantAsync("editor", "Documents", "rw,grant", token: true);
        var viewer = await c.GrantAsync("viewer", "Pictures", "ro", "1h", token: true);
        tokens.Add(editor.Token!);
        tokens.Add(viewer.Token!);
        var narrowed = CapabilityToken.Decode(editor.Token).Attenuate(Caveat.Path(TreePath.Parse("Documents/Work")), Caveat.NewOnce()).Encode();
        tokens.Add(narrowed);
        var binary = Base64Url.DecodeFromChars(editor.Token.AsSpan(5));
        binary[^1] ^= 1;
        var tampered = "spg1_" + Base64Url.EncodeToString(binary);
        tokens.Add(tampered);

        Assert.True((await c.VerifyTokenAsync(editor.Token!, "editor", "Documents/report.odt", "rw")).Valid);
        Assert.True((await c.VerifyTokenAsync(viewer.Token!)).Valid);
        await c.RedeemAsync(viewer.Token!, "viewer");
        await c.RedeemAsync(narrowed, "mail");
        var replay = await Assert.ThrowsAsync<BrokerClientException>(() => c.RedeemAsync(narrowed, "mail"));
        messages.AppendLine(replay.Message);
        var bad = await c.VerifyTokenAsync(tampered);
        Assert.False(bad.Valid);
        messages.AppendLine(bad.Reason);
        var outOfScope = await c.VerifyTokenAsync(viewer.Token!, "viewer", "Documents", "rw");
        Assert.False(outOfScope.Valid);
        messages.AppendLine(outOfScope.Reason);
        var refused = await Assert.ThrowsAsync<BrokerClientException>(() => c.RedeemAsync(tampered, "mail"));
        messages.AppendLine(refused.Message);
        var garbled = await Assert.ThrowsAsync<BrokerClientException>(() => c.VerifyTokenAsync(editor.Token![..^7]));
        messages.AppendLine(garbled.Message);
        var rotated = await c.RotateKeyAsync();
        Assert.Equal(2u, rotated.KeyEpoch);
        keys.AddRange(ReadKeys(rootKey));
        var afterRotation = await c.GrantAsync("editor", "Downloads", "ro", token: true);
        tokens.Add(afterRotation.Token!);
        var oldEpoch = await c.VerifyTokenAsync(editor.Token!);
        Assert.False(oldEpoch.Valid);
        messages.AppendLine(oldEpoch.Reason);
        Assert.True((await c.VerifyTokenAsync(afterRotation.Token!)).Valid);

        var secrets = Secrets(tokens, keys).ToList();
        Assert.Equal(7, secrets.Count);

        // The live files first (the WAL holds the recent pages), then again after a clean stop.
        foreach (var file in Directory.GetFiles(_dirs.State, "broker.db*"))
        {
            AssertNoSecretBytes(file, secrets);
        }

        var auditRows = await Tools.SqliteAsync(_dirs.Database, "SELECT seq, time, actor, vm, action, path, rights, grant_id, result, detail, hex(prev_hash), hex(hash) FROM audit ORDER BY seq;");
        Assert.Contains("|redeem|", auditRows, StringComparison.Ordinal);
        Assert.Contains("|refused|", auditRows, StringComparison.Ordinal);
        var auditJson = System.Text.Json.JsonSerializer.Serialize(await c.AuditAsync(), BrokerJson.Default.IReadOnlyListAuditRecordDto);
        Assert.Equal(0, await broker.StopAsync());

        foreach (var file in Directory.GetFiles(_dirs.State, "broker.db*"))
        {
            AssertNoSecretBytes(file, secrets);
        }

        var output = broker.Output;
        Assert.Contains("Broker ready", output, StringComparison.Ordinal);
        Assert.Contains("dbug:", output, StringComparison.Ordinal); // verbose logging was on
        AssertNoSecretText("the broker's output", output, tokens, secrets);
        AssertNoSecretText("the audit table", auditRows, tokens, secrets);
        AssertNoSecretText("the audit API", auditJson, tokens, secrets);
        AssertNoSecretText("the error messages", messages.ToString(), tokens, secrets, mayNameThePrefix: true);
    }
}
