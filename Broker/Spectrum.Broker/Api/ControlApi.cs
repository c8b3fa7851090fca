using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Spectrum.Broker.Contracts;
using Spectrum.Broker.Grants;
using Spectrum.Broker.Hosting;
using Spectrum.Broker.State;
using Spectrum.Capabilities;

namespace Spectrum.Broker.Api;

/// <summary>
/// The control API: HTTP/JSON on the broker's Unix socket. Every call but status is for admins
/// (root or the tree owner, from SO_PEERCRED); anyone else gets 403, which is audited.
/// </summary>
public static partial class ControlApi
{
    private const string PeerKey = "spectrum.peer";

    public static void Map(WebApplication app, BrokerServices services)
    {
        app.Use(async (context, next) =>
        {
            try
            {
                Authorize(context, services);
                await next(context).ConfigureAwait(false);
            }
            catch (BrokerRefusal refusal)
            {
                await WriteError(context, refusal.Kind switch
                {
                    RefusalKind.BadRequest => (400, "bad_request"),
                    RefusalKind.NotFound => (404, "not_found"),
                    RefusalKind.Conflict => (409, "conflict"),
                    RefusalKind.LaunchFailed => (502, "launch_failed"),
                    RefusalKind.Unavailable => (503, "unavailable"),
                    _ => (403, "forbidden"),
                }, refusal.Message).ConfigureAwait(false);
            }
            catch (Exception e) when (e is JsonException or BadHttpRequestException)
            {
                await WriteError(context, (400, "bad_request"), $"malformed request body ({e.Message.Split(". ")[0]}); send JSON as documented in the README").ConfigureAwait(false);
            }
            catch (Exception e) when (TransientErrno(e) is { } errno && !context.Response.HasStarted)
            {
                // Short of fds or memory somewhere below (SQLite, a policy file): a refusal, never a 500.
                await WriteError(context, (503, "unavailable"), BrokerRefusal.Unavailable(errno).Message).ConfigureAwait(false);
            }
            catch (Exception e) when (!context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted)
            {
                LogUnexpected(services.Logger, context.Request.Method, context.Request.Path, e);
                await WriteError(context, (500, "internal"), "internal broker error; see the broker's log (journalctl -u spectrum-broker)").ConfigureAwait(false);
            }
        });

        var grants = services.Grants;
        var audit = services.Audit;

        app.MapGet(ApiRoutes.Status, () => Json(services.Status(), BrokerJson.Default.StatusDto));

        app.MapPost(ApiRoutes.Grants, async Task<IResult> (HttpContext ctx) =>
        {
            var request = await Body(ctx, BrokerJson.Default.GrantRequest).ConfigureAwait(false);
            var created = await services.GrantAsync(Actor(ctx), request, ctx.RequestAborted).ConfigureAwait(false);
            return Results.Json(created, BrokerJson.Default.GrantCreated, statusCode: 201);
        });

        app.MapGet(ApiRoutes.Grants, (string? vm, string? path, bool? all) =>
            Json<IReadOnlyList<GrantDto>>(grants.List(vm, path, all ?? false).Select(g => g.ToDto()).ToList(), BrokerJson.Default.IReadOnlyListGrantDto));

        app.MapGet(ApiRoutes.Grants + "/{id}", (string id) => Json(grants.Show(id).ToDto(), BrokerJson.Default.GrantDto));

        app.MapDelete(ApiRoutes.Grants + "/{id}", async (HttpContext ctx, string id) =>
            Json(new RevokeResult { Revoked = await grants.RevokeAsync(Actor(ctx), id, ctx.RequestAborted).ConfigureAwait(false) }, BrokerJson.Default.RevokeResult));

        app.MapPost(ApiRoutes.Revoke, async Task<IResult> (HttpContext ctx) =>
        {
            var request = await Body(ctx, BrokerJson.Default.RevokeRequest).ConfigureAwait(false);
            IReadOnlyList<string> revoked = request switch
            {
                { GrantId: { } id, Vm: null, Path: null } => await grants.RevokeAsync(Actor(ctx), id, ctx.RequestAborted).ConfigureAwait(false),
                { GrantId: null, Vm: { } vm } => await grants.RevokeMatchingAsync(Actor(ctx), vm, request.Path, ctx.RequestAborted).ConfigureAwait(false),
                _ => throw BrokerRefusal.Bad("revoke takes either a grant_id, or a vm with an optional path"),
            };
            return Json(new RevokeResult { Revoked = revoked }, BrokerJson.Default.RevokeResult);
        });

        app.MapGet(ApiRoutes.WhoCan, (string? path) =>
        {
            var entries = grants.WhoCan(path ?? throw BrokerRefusal.Bad("who-can needs ?path=PATH, relative to the tree"));
            return Json(new WhoCanResult { Path = path, Entries = entries.Select(g => g.ToWhoCan()).ToList() }, BrokerJson.Default.WhoCanResult);
        });

        app.MapGet(ApiRoutes.Audit, (string? vm, string? path, string? action, string? since, string? until, string? limit) =>
        {
            var query = new AuditQuery
            {
                Vm = vm is null ? null : GrantService.ValidateVm(vm),
                PathGlob = path is null ? null
                    : Spectrum.Policy.PathGlob.TryParse(path, out var glob, out var globError) ? glob
                    : throw BrokerRefusal.Bad(globError),
                Action = action is null || AuditActions.All.Contains(action) ? action
                    : throw BrokerRefusal.Bad($"unknown audit action '{action}'; use one of {string.Join(", ", AuditActions.All.Order(StringComparer.Ordinal))}"),
                SinceMs = ParseTime(since, "since", services.Store.NowMs),
                UntilMs = ParseTime(until, "until", services.Store.NowMs),
                Limit = limit is null ? 100
                    : int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 100_000 ? n
                    : throw BrokerRefusal.Bad($"bad limit '{limit}'; give a whole number from 1 to 100000"),
            };
            return Json<IReadOnlyList<AuditRecordDto>>(audit.Query(query).Select(r => r.ToDto()).ToList(), BrokerJson.Default.IReadOnlyListAuditRecordDto);
        });

        app.MapGet(ApiRoutes.AuditVerify, () =>
        {
            var v = audit.Verify();
            return Json(new AuditVerifyResult { Ok = v.Ok, Records = v.Records, FirstBadSeq = v.FirstBadSeq, Reason = v.Reason }, BrokerJson.Default.AuditVerifyResult);
        });

        MapVms(app, services);

        app.MapPost(ApiRoutes.PolicyCheck, async Task<IResult> (HttpContext ctx) =>
        {
            // A chunked body has no Content-Length: only a declared-empty or untyped request has no body.
            var request = ctx.Request.ContentLength == 0 || ctx.Request.ContentType is null ? new PolicyCheckRequest() : await Body(ctx, BrokerJson.Default.PolicyCheckRequest).ConfigureAwait(false);
            return Json(services.Policy.Check(request.Dir), BrokerJson.Default.PolicyCheckResult);
        });

        app.MapGet(ApiRoutes.PolicyDiff, () => Json(services.Policy.Diff(), BrokerJson.Default.PolicyDiffResult));

        // Handlers taking only HttpContext are typed Task<IResult>: an expression-bodied async lambda
        // would bind to the RequestDelegate overload and its result would be dropped (an empty 200).
        app.MapPost(ApiRoutes.PolicyApply, async Task<IResult> (HttpContext ctx) =>
            Json(await services.Policy.ApplyAsync(Actor(ctx), ctx.RequestAborted).ConfigureAwait(false), BrokerJson.Default.PolicyDiffResult));

        app.MapPost(ApiRoutes.TokenVerify, async Task<IResult> (HttpContext ctx) =>
            Json(services.Tokens.Verify(await Body(ctx, BrokerJson.Default.TokenRequest).ConfigureAwait(false)), BrokerJson.Default.TokenVerifyResult));

        app.MapPost(ApiRoutes.TokenRedeem, async Task<IResult> (HttpContext ctx) =>
        {
            var request = await Body(ctx, BrokerJson.Default.TokenRequest).ConfigureAwait(false);
            var grant = await services.Tokens.RedeemAsync(Actor(ctx), request, ctx.RequestAborted).ConfigureAwait(false);
            return Json(grant.ToDto(), BrokerJson.Default.GrantDto);
        });

        app.MapPost(ApiRoutes.Revocations, async Task<IResult> (HttpContext ctx) =>
        {
            var request = await Body(ctx, BrokerJson.Default.RevocationRequest).ConfigureAwait(false);
            var revoked = await services.Tokens.RevokeTokenAsync(Actor(ctx), request.RevocationId, ctx.RequestAborted).ConfigureAwait(false);
            return Json(new RevokeResult { Revoked = revoked }, BrokerJson.Default.RevokeResult);
        });

        app.MapPost(ApiRoutes.KeyRotate, async Task<IResult> (HttpContext ctx) =>
            Json(await services.Tokens.RotateAsync(Actor(ctx), ctx.RequestAborted).ConfigureAwait(false), BrokerJson.Default.StatusDto));

        app.MapFallback((HttpContext ctx) => Results.Json(
            new ErrorDto { Code = "not_found", Message = $"no API at {ctx.Request.Method} {ctx.Request.Path}; see the README for the control API" },
            BrokerJson.Default.ErrorDto,
            statusCode: 404));
    }

    /// <summary>Admin calls need root or the tree owner; a refusal is audited with the caller's uid.</summary>
    private static void Authorize(HttpContext context, BrokerServices services)
    {
        var peer = PeerCredentials.Of(context)
            ?? throw BrokerRefusal.Forbidden("the control API answers only on its Unix socket");
        context.Items[PeerKey] = peer;
        if (peer.Uid == 0 || peer.Uid == services.Tree.Owner || context.Request.Path == ApiRoutes.Status)
        {
            return;
        }

        // Rate-limited per uid (DenialAggregator): a local user looping on the API cannot grow the log without bound.
        services.Denials.ApiRefused(peer.Uid, $"admin API {context.Request.Method} {context.Request.Path} refused: uid {peer.Uid} is neither root nor the tree owner (uid {services.Tree.Owner})");
        throw BrokerRefusal.Forbidden($"uid {peer.Uid} may not administer the broker; run as root or as the tree's owner (uid {services.Tree.Owner})");
    }

    /// <summary>The transient errno behind <paramref name="e"/> (a failed system call, or .NET's IOException, whose HResult is the errno on Linux), if any.</summary>
    private static Spectrum.Interop.Errno? TransientErrno(Exception e)
    {
        var errno = e switch
        {
            Spectrum.Interop.SysCallException s => s.Errno,
            Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 7 } => Spectrum.Interop.Errno.ENOMEM, // SQLITE_NOMEM
            IOException io when io.HResult is > 0 and < 4096 => (Spectrum.Interop.Errno)io.HResult,
            _ => (Spectrum.Interop.Errno?)null,
        };
        return errno is { } n && Spectrum.Interop.ErrnoFacts.IsTransient(n) ? n : null;
    }

    private static string Actor(HttpContext context) =>
        context.Items[PeerKey] is PeerCredentials peer ? peer.Actor : "unknown";

    private static async Task<T> Body<T>(HttpContext context, JsonTypeInfo<T> type)
    {
        if (!(context.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            throw BrokerRefusal.Bad("the request body must be JSON (Content-Type: application/json)");
        }

        return await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted).ConfigureAwait(false)
            ?? throw BrokerRefusal.Bad("the request body is empty (null); send a JSON object");
    }

    private static IResult Json<T>(T value, JsonTypeInfo<T> type) => Results.Json(value, type);

    private static Task WriteError(HttpContext context, (int Status, string Code) what, string message)
    {
        context.Response.StatusCode = what.Status;
        return context.Response.WriteAsJsonAsync(new ErrorDto { Code = what.Code, Message = message }, BrokerJson.Default.ErrorDto);
    }

    /// <summary>A duration back from now ("1h"), or an ISO 8601 time.</summary>
    internal static long? ParseTime(string? text, string name, long nowMs)
    {
        if (text is null)
        {
            return null;
        }

        if (DurationText.TryParse(text, out var ago, out _))
        {
            return nowMs - (long)ago.TotalMilliseconds;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at.ToUnixTimeMilliseconds();
        }

        throw BrokerRefusal.Bad($"bad --{name} '{text}'; give a duration back from now (30m, 2h, 7d) or an ISO time (2026-11-25T09:00:00Z)");
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unexpected failure in {Method} {Path}")]
    private static partial void LogUnexpected(ILogger logger, string method, string path, Exception e);
}
