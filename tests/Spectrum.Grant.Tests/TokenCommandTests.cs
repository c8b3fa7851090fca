using System.Buffers.Text;
using System.Text.Json;
using Spectrum.Broker.Contracts;
using Spectrum.Capabilities;

namespace Spectrum.Grant.Tests;

/// <summary><c>token attenuate</c> works offline and only narrows; <c>token inspect</c> never shows secrets.</summary>
public sealed class TokenCommandTests : IDisposable
{
    private static readonly FixedClock Clock = new(new DateTimeOffset(2025, 1, 31, 12, 0, 0, TimeSpan.Zero));
    private readonly byte[] _rootKey = TokenKeyRing.GenerateRootKey();
    private readonly TokenKeyRing _keys;
    private readonly CapabilityToken _token;

    public TokenCommandTests()
    {
        _keys = TokenKeyRing.Create(7, _rootKey);
        _token = new TokenIssuer(_keys).Mint(GrantId.New(), Caveat.Path(TreePath.Parse("Documents")), Caveat.OfRights(Rights.ReadWrite));
    }

    public void Dispose() => _keys.Dispose();

    [Fact]
    public async Task Attenuate_AppendsTheRequestedCaveatsOffline()
    {
        await using var broker = new FakeBroker();
        var run = await CliRun.RunAsync(
            ["token", "attenuate", _token.Encode(), "--rights", "ro", "--path", "Documents/Work", "--expires", "1h"],
            socket: broker.SocketPath,
            time: Clock);
        run.AssertOk();
        var narrowed = CapabilityToken.Decode(Assert.Single(run.StdoutLines));
        Assert.Equal(_token.GrantId, narrowed.GrantId);
        Assert.Equal(7u, narrowed.Epoch);
        Assert.Equal(
            [.. _token.Caveats, Caveat.Path(TreePath.Parse("Documents/Work")), Caveat.OfRights(Rights.Read), Caveat.NotAfter(Clock.Now.AddHours(1))],
            narrowed.Caveats);
        Assert.Empty(broker.Requests);
    }

    [Fact]
    public async Task Attenuate_TokenFromStdin_JsonPrintsTokenResult()
    {
        var run = await CliRun.RunAsync(["token", "attenuate", "-", "--rights", "read", "--json"], stdin: _token.Encode() + "\n");
        run.AssertOk();
        var result = JsonSerializer.Deserialize(run.Stdout, BrokerJson.Default.TokenResult)!;
        var narrowed = CapabilityToken.Decode(result.Token);
        Assert.Equal(Caveat.OfRights(Rights.Read), narrowed.Caveats[^1]);
        Assert.Equal(_token.Caveats.Count + 1, narrowed.CaveatCount);
    }

    [Fact]
    public async Task Attenuate_SealedToken_ExitsOne()
    {
        var line = (await CliRun.RunAsync("token", "attenuate", _token.Seal().Encode(), "--rights", "ro")).AssertFailed(1);
        Assert.Contains("sealed", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attenuate_NothingToAdd_ExitsTwo() =>
        (await CliRun.RunAsync("token", "attenuate", _token.Encode())).AssertFailed(2);

    [Theory]
    [InlineData("--rights", "rx")]
    [InlineData("--path", "/etc")]
    [InlineData("--expires", "8x")]
    public async Task Attenuate_BadNarrowing_ExitsTwo(string option, string value) =>
        (await CliRun.RunAsync("token", "attenuate", _token.Encode(), option, value)).AssertFailed(2);

    [Fact]
    public async Task Attenuate_CorruptToken_ExitsTwoWithoutQuotingIt()
    {
        var corrupt = _token.Encode()[..^5];
        var line = (await CliRun.RunAsync("token", "attenuate", corrupt, "--rights", "ro")).AssertFailed(2);
        Assert.DoesNotContain(corrupt, line, StringComparison.Ordinal);
        Assert.DoesNotContain(corrupt[5..20], line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_BrokerUnreachable_PrintsDecodedFieldsAndExitsZero()
    {
        var run = await CliRun.RunAsync("token", "inspect", _token.Encode());
        run.AssertOk();
        Assert.Contains($"grant:          {_token.GrantId}", run.StdoutLines);
        Assert.Contains("epoch:          7", run.StdoutLines);
        Assert.Contains("caveats:        path Documents", run.StdoutLines);
        Assert.Contains($"revocation id:  {_token.LastRevocationId}", run.StdoutLines);
        Assert.StartsWith("broker:         not asked: cannot reach the broker", run.StdoutLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_Json_BrokerIsNullWhenUnreachable()
    {
        var run = await CliRun.RunAsync("token", "inspect", _token.Encode(), "--json");
        run.AssertOk();
        var info = JsonSerializer.Deserialize(run.Stdout, BrokerJson.Default.TokenInfoDto)!;
        Assert.Null(info.Broker);
        Assert.Equal(_token.GrantId.ToString(), info.GrantId);
        Assert.Equal([new CaveatDto { Type = "path", Value = "Documents" }, new CaveatDto { Type = "rights", Value = "rw" }], info.Caveats);
        Assert.Contains("\"broker\": null", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_WithBroker_IncludesItsVerdict()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/tokens/verify", 200, $$"""{"valid":true,"reason":null,"grant_id":"{{_token.GrantId}}","effective_rights":"rw","not_after":null}""");
        var run = await CliRun.RunAsync(["token", "inspect", "-", "--json"], socket: broker.SocketPath, stdin: _token.Encode());
        run.AssertOk();
        var info = JsonSerializer.Deserialize(run.Stdout, BrokerJson.Default.TokenInfoDto)!;
        Assert.True(info.Broker!.Valid);
        var sent = JsonSerializer.Deserialize(Assert.Single(broker.Requests).Body, BrokerJson.Default.TokenRequest)!;
        Assert.Equal(_token.Encode(), sent.Token);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Inspect_NeverPrintsTheTagTheTokenOrTheKey(bool json)
    {
        var text = _token.Encode();
        var binary = Base64Url.DecodeFromChars(text.AsSpan(5));
        var tag = binary.AsSpan(binary.Length - 32).ToArray();
        var run = await CliRun.RunAsync(json ? ["token", "inspect", text, "--json"] : ["token", "inspect", text]);
        run.AssertOk();
        var output = run.Stdout + run.Stderr;
        foreach (var secret in new[]
                 {
                     text[5..], Convert.ToHexStringLower(tag), Convert.ToHexString(tag), Convert.ToBase64String(tag),
                     Base64Url.EncodeToString(tag), Convert.ToHexStringLower(_rootKey), Convert.ToBase64String(_rootKey),
                     Base64Url.EncodeToString(_rootKey),
                 })
        {
            Assert.DoesNotContain(secret, output, StringComparison.OrdinalIgnoreCase);
        }

        // No tail of the token text either: the tag is its last 43 characters.
        Assert.DoesNotContain(text[^20..], output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_BadRevocationId_ExitsTwo()
    {
        var line = (await CliRun.RunAsync("token", "revoke", "xyz")).AssertFailed(2);
        Assert.Contains("64 lowercase hex digits", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_PostsTheRevocationId()
    {
        var id = _token.LastRevocationId.ToString();
        await using var broker = new FakeBroker().On("POST", "/v1/revocations", 200, """{"revoked":[]}""");
        var run = await CliRun.RunAsync(["token", "revoke", id], socket: broker.SocketPath);
        run.AssertOk();
        Assert.Equal($"revoked token {id}", run.StdoutLines[0]);
        Assert.Equal(id, JsonSerializer.Deserialize(Assert.Single(broker.Requests).Body, BrokerJson.Default.RevocationRequest)!.RevocationId);
    }

    [Fact]
    public async Task Verify_Invalid_ExitsOneWithTheReason()
    {
        await using var broker = new FakeBroker().On("POST", "/v1/tokens/verify", 200, $$"""{"valid":false,"reason":"token expired","grant_id":"{{_token.GrantId}}","effective_rights":null,"not_after":null}""");
        var line = (await CliRun.RunAsync(["token", "verify", _token.Encode(), "--rights", "rw"], socket: broker.SocketPath)).AssertFailed(1);
        Assert.Contains("token expired", line, StringComparison.Ordinal);
    }
}
