using Spectrum.Broker.Contracts;
using Spectrum.Broker.Grants;
using Spectrum.Broker.Hosting;

namespace Spectrum.Broker.Api;

/// <summary>The VM lifecycle calls behind <c>spectrum-vm</c>.</summary>
public static partial class ControlApi
{
    private static void MapVms(WebApplication app, BrokerServices services)
    {
        app.MapGet(ApiRoutes.Vms, () => Json(services.Vms.List(), BrokerJson.Default.IReadOnlyListVmDto));

        app.MapPost(ApiRoutes.Vms + "/{vm}/run", async Task<IResult> (string vm, HttpContext ctx) =>
            Json(await services.Vms.RunAsync(Actor(ctx), vm, ctx.RequestAborted).ConfigureAwait(false), BrokerJson.Default.VmRunResult));

        app.MapPost(ApiRoutes.Vms + "/{vm}/stop", async Task<IResult> (string vm, HttpContext ctx) =>
        {
            var request = ctx.Request.ContentLength is null or 0 && ctx.Request.ContentType is null
                ? new VmStopRequest()
                : await Body(ctx, BrokerJson.Default.VmStopRequest).ConfigureAwait(false);
            var timeout = request.TimeoutSeconds switch
            {
                null => Vms.VmService.DefaultStopTimeout,
                > 0 and <= 3600 and var s => TimeSpan.FromSeconds(s),
                var s => throw BrokerRefusal.Bad($"bad timeout_seconds {s}; give a number of seconds above 0 and at most 3600"),
            };
            return Json(await services.Vms.StopAsync(vm, timeout, ctx.RequestAborted).ConfigureAwait(false), BrokerJson.Default.VmStopResult);
        });

        app.MapPost(ApiRoutes.Vms + "/{vm}/open", async Task<IResult> (string vm, HttpContext ctx) =>
        {
            var request = await Body(ctx, BrokerJson.Default.VmOpenRequest).ConfigureAwait(false);
            return Json(await services.Vms.OpenAsync(Actor(ctx), vm, request, ctx.RequestAborted).ConfigureAwait(false), BrokerJson.Default.VmOpenResult);
        });
    }
}
