using Spectrum.Broker.Contracts;
using Spectrum.Broker.Grants;
using Spectrum.Broker.State;
using Spectrum.Capabilities;

namespace Spectrum.Broker.Api;

/// <summary>Store rows to wire DTOs.</summary>
public static class DtoMapping
{
    public static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public static GrantDto ToDto(this GrantRow g) => new()
    {
        Id = g.Id,
        Vm = g.Vm,
        Path = g.Path,
        Kind = g.Kind,
        Rights = RightsText.Format(g.RightsValue),
        Persistence = g.Persistence,
        Source = g.Source,
        SourceDetail = g.SourceDetail,
        Parent = g.Parent,
        CreatedAt = Time(g.CreatedAt),
        ExpiresAt = g.ExpiresAt is { } e ? Time(e) : null,
        State = g.State,
        EndedAt = g.EndedAt is { } x ? Time(x) : null,
        Identity = g.Dev is null || g.Ino is null
            ? null
            : new FileIdentityDto
            {
                Dev = (ulong)g.Dev.Value,
                Ino = (ulong)g.Ino.Value,
                Handle = g.Handle is null ? null : $"{g.HandleType}:{Convert.ToHexStringLower(g.Handle)}",
            },
    };

    public static AuditRecordDto ToDto(this AuditRecord r) => new()
    {
        Seq = r.Seq,
        Time = Time(r.TimeMs),
        Actor = r.Actor,
        Vm = r.Vm,
        Action = r.Action,
        Path = r.Path,
        Rights = r.Rights,
        GrantId = r.GrantId,
        Result = r.Result,
        Detail = r.Detail,
        PrevHash = Convert.ToHexStringLower(r.PrevHash),
        Hash = Convert.ToHexStringLower(r.Hash),
    };

    public static WhoCanEntry ToWhoCan(this GrantRow g) => new()
    {
        Vm = g.Vm,
        Rights = RightsText.Format(g.RightsValue),
        GrantId = g.Id,
        Via = g.Path,
        Source = g.Source,
        SourceDetail = g.SourceDetail,
        ExpiresAt = g.ExpiresAt is { } e ? Time(e) : null,
    };
}
