using System.CommandLine;
using System.Globalization;
using Spectrum.Broker.Contracts;
using Spectrum.Capabilities;
using Spectrum.Cli;

namespace Spectrum.Grant.Commands;

/// <summary>
/// <c>token inspect</c> (local decode, then the broker's verdict if it answers), <c>token attenuate</c>
/// (offline: a token can be narrowed by anyone who holds it), <c>token verify</c> and <c>token revoke</c>.
/// </summary>
internal static class TokenCommands
{
    private const string TokenHelp = "The spg1_ token, or - to read it from standard input (a token on the command line shows in ps and shell history)";

    public static IEnumerable<Command> Build(CliApp app)
    {
        var token = new Command("token", "Inspect, narrow, verify and revoke capability tokens");
        token.Subcommands.Add(InspectCommand(app));
        token.Subcommands.Add(AttenuateCommand(app));
        token.Subcommands.Add(VerifyCommand(app));
        token.Subcommands.Add(RevokeCommand(app));
        yield return token;
    }

    private static Argument<string> TokenArgument() => new("TOKEN") { Description = TokenHelp };

    private static Command InspectCommand(CliApp app)
    {
        var text = TokenArgument();
        var command = new Command("inspect", "Decode a token locally (never printing its secret tag), then ask the broker whether it is valid") { text };
        app.SetAction(command, async (s, p, ct) =>
        {
            var raw = ReadToken(s, p.GetValue(text));
            var decoded = Decode(raw);
            TokenVerifyResult? verdict = null;
            string? unasked = null;
            try
            {
                verdict = await s.PostAsync(ApiRoutes.TokenVerify, new TokenRequest { Token = raw }, BrokerJson.Default.TokenRequest, BrokerJson.Default.TokenVerifyResult, ct).ConfigureAwait(false);
            }
            catch (BrokerClientException e)
            {
                // Decoding worked, so inspect succeeds; the broker's opinion is a bonus.
                unasked = e.Message;
            }

            var info = new TokenInfoDto
            {
                Version = decoded.Version,
                Epoch = decoded.Epoch,
                GrantId = decoded.GrantId.ToString(),
                Sealed = decoded.IsSealed,
                Caveats = decoded.Caveats.Select(ToDto).ToArray(),
                RevocationId = decoded.LastRevocationId.ToString(),
                Broker = verdict,
            };
            if (s.Json)
            {
                s.WriteJson(info, BrokerJson.Default.TokenInfoDto);
                return ExitCodes.Ok;
            }

            var table = new TableWriter("KEY", "VALUE");
            table.AddRow("version:", info.Version.ToString(CultureInfo.InvariantCulture));
            table.AddRow("epoch:", info.Epoch.ToString(CultureInfo.InvariantCulture));
            table.AddRow("grant:", info.GrantId);
            table.AddRow("sealed:", Text.YesNo(info.Sealed));
            for (var i = 0; i < info.Caveats.Count; i++)
            {
                var c = info.Caveats[i];
                table.AddRow(i == 0 ? "caveats:" : "", c.Value.Length == 0 ? c.Type : $"{c.Type} {c.Value}");
            }

            if (info.Caveats.Count == 0)
            {
                table.AddRow("caveats:", "none");
            }

            table.AddRow("revocation id:", info.RevocationId);
            table.AddRow("broker:", verdict is null ? $"not asked: {unasked}" : Verdict(verdict, s.Now));
            table.Write(s.Out, header: false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command AttenuateCommand(CliApp app)
    {
        var text = TokenArgument();
        var rights = new Option<string?>("--rights") { Description = "Allow at most these rights (intersected with what the token allows)", HelpName = "RIGHTS" };
        var path = new Option<string?>("--path") { Description = "Allow only this path and below (relative to the tree)", HelpName = "PATH" };
        var expires = new Option<string?>("--expires") { Description = "Stop working after this long from now (90s, 30m, 8h, 2d)", HelpName = "DURATION" };
        var command = new Command(
            "attenuate",
            "Narrow a token offline (no broker needed) and print the new token; it can never allow more than the original")
        {
            text, rights, path, expires,
        };
        app.SetAction(command, (s, p, _) =>
        {
            var caveats = new List<Caveat>();
            if (p.GetValue(path) is { } pathText)
            {
                caveats.Add(Caveat.Path(Checks.TreePath(pathText)));
            }

            if (p.GetValue(rights) is { } rightsText)
            {
                caveats.Add(Caveat.OfRights(Checks.Rights(rightsText)));
            }

            if (p.GetValue(expires) is { } expiresText)
            {
                caveats.Add(Caveat.NotAfter(s.Now + Checks.Duration(expiresText, "--expires")));
            }

            if (caveats.Count == 0)
            {
                throw CliException.Usage("nothing to narrow; give at least one of --rights, --path or --expires");
            }

            var decoded = Decode(ReadToken(s, p.GetValue(text)));
            if (decoded.IsSealed)
            {
                throw CliException.Refused("this token is sealed and cannot be narrowed further; ask for a new token from its issuer, or narrow an unsealed ancestor");
            }

            CapabilityToken narrowed;
            try
            {
                narrowed = decoded.Attenuate([.. caveats]);
            }
            catch (ArgumentException e)
            {
                throw CliException.Refused($"cannot narrow this token: {e.Message.Split(" (Parameter", 2)[0]}; add fewer caveats");
            }

            var result = new TokenResult { Token = narrowed.Encode() };
            if (s.Json)
            {
                s.WriteJson(result, BrokerJson.Default.TokenResult);
            }
            else
            {
                s.Out.WriteLine(result.Token);
            }

            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    private static Command VerifyCommand(CliApp app)
    {
        var text = TokenArgument();
        var vm = new Option<string?>("--vm") { Description = "Check the token as held by this VM (holder caveats)", HelpName = "VM" };
        var path = new Option<string?>("--path") { Description = "Check access to this path (default: what the token covers)", HelpName = "PATH" };
        var rights = new Option<string?>("--rights") { Description = "Check these rights (default: what the token allows)", HelpName = "RIGHTS" };
        var command = new Command("verify", "Ask the broker whether a token is valid; exit 1 if it is not") { text, vm, path, rights };
        app.SetAction(command, async (s, p, ct) =>
        {
            var raw = ReadToken(s, p.GetValue(text));
            _ = Decode(raw);
            var request = new TokenRequest
            {
                Token = raw,
                Vm = p.GetValue(vm) is { } v ? Checks.VmName(v) : null,
                Path = p.GetValue(path) is { } t ? Checks.TreePath(t).Value : null,
                Rights = p.GetValue(rights) is { } r ? RightsText.Format(Checks.Rights(r)) : null,
            };
            var verdict = await s.PostAsync(ApiRoutes.TokenVerify, request, BrokerJson.Default.TokenRequest, BrokerJson.Default.TokenVerifyResult, ct).ConfigureAwait(false);
            if (s.Json)
            {
                s.WriteJson(verdict, BrokerJson.Default.TokenVerifyResult);
            }
            else if (verdict.Valid)
            {
                s.Out.WriteLine(Verdict(verdict, s.Now));
            }

            if (!verdict.Valid)
            {
                throw CliException.Refused($"token is not valid: {verdict.Reason ?? "no reason given"}; ask its issuer for a new one");
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command RevokeCommand(CliApp app)
    {
        var id = new Argument<string>("REVOCATION_ID") { Description = "The revocation id `token inspect` prints (64 hex digits); kills that token and every token derived from it" };
        var command = new Command("revoke", "Revoke one token and its descendants, without touching its parent or its grant") { id };
        app.SetAction(command, async (s, p, ct) =>
        {
            var text = p.GetValue(id);
            if (!RevocationId.TryParse(text, out var parsed))
            {
                throw CliException.Usage($"bad revocation id '{Checks.Printable(text)}'; it is the 64 lowercase hex digits `spectrum-grant token inspect` prints");
            }

            var result = await s.PostAsync(
                ApiRoutes.Revocations, new RevocationRequest { RevocationId = parsed.Value.ToString() }, BrokerJson.Default.RevocationRequest, BrokerJson.Default.RevokeResult, ct).ConfigureAwait(false);
            if (!s.Json)
            {
                s.Out.WriteLine($"revoked token {parsed.Value}");
            }

            GrantCommands.WriteRevoked(s, result, "(no grant ended with it)");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The token text: the argument, or standard input's first line for <c>-</c>.</summary>
    private static string ReadToken(Session s, string? argument)
    {
        var text = argument == "-" ? s.Context.Stdin.ReadToEnd().Trim() : argument?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            throw CliException.Usage(argument == "-" ? "no token on standard input; pipe the spg1_ token in" : "token is empty; give the spg1_ token, or - to read it from standard input");
        }

        return text;
    }

    private static CapabilityToken Decode(string text) =>
        CapabilityToken.TryDecode(text, out var token, out var error)
            ? token
            : throw CliException.Usage($"{error}; give the whole spg1_ token exactly as it was issued, or - to read it from standard input");

    /// <summary>A caveat as <c>type</c> plus value text (empty for <c>no_delegate</c>).</summary>
    internal static CaveatDto ToDto(Caveat caveat) => new()
    {
        Type = caveat.Name,
        Value = caveat.Type switch
        {
            CaveatType.Path => caveat.AsPath().Value,
            CaveatType.Rights => RightsText.Format(caveat.AsRights()),
            CaveatType.NotAfter or CaveatType.NotBefore =>
                caveat.AsTime().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            CaveatType.Holder or CaveatType.Label => caveat.AsText(),
            CaveatType.Once => caveat.AsOnceNonce().ToString(),
            _ => "",
        },
    };

    private static string Verdict(TokenVerifyResult v, DateTimeOffset now) =>
        v.Valid
            ? $"valid: grant {v.GrantId}, rights {v.EffectiveRights ?? "-"}, not after {(v.NotAfter is { } t ? $"{Text.Time(t)} ({Text.Relative(t, now)})" : "-")}"
            : $"invalid: {v.Reason ?? "no reason given"}";
}
