using Spectrum.Capabilities;

namespace Spectrum.Broker.Grants;

/// <summary>A row of the grants table, as Dapper maps it.</summary>
public sealed class GrantRow
{
    public string Id { get; set; } = "";
    public string Vm { get; set; } = "";
    public string Path { get; set; } = "";
    public string Kind { get; set; } = "";
    public long Rights { get; set; }
    public string Persistence { get; set; } = "";
    public string Source { get; set; } = "";
    public string? SourceDetail { get; set; }
    public string? Parent { get; set; }
    public long CreatedAt { get; set; }
    public long? ExpiresAt { get; set; }
    public string State { get; set; } = "";
    public long? EndedAt { get; set; }
    public long? Dev { get; set; }
    public long? Ino { get; set; }
    public long? HandleType { get; set; }
    public byte[]? Handle { get; set; }
    public long? ParentDev { get; set; }
    public long? ParentIno { get; set; }
    public long? ParentHandleType { get; set; }
    public byte[]? ParentHandle { get; set; }

    /// <summary>The identity recorded for the grant root, or null (stale grants).</summary>
    public Interop.FileIdentity? Identity =>
        Dev is null || Ino is null ? null : new((ulong)Dev.Value, (ulong)Ino.Value, (int)(HandleType ?? 0), Handle);

    /// <summary>The identity recorded for the directory containing the grant root.</summary>
    public Interop.FileIdentity? ParentIdentity =>
        ParentDev is null || ParentIno is null ? null : new((ulong)ParentDev.Value, (ulong)ParentIno.Value, (int)(ParentHandleType ?? 0), ParentHandle);

    public Rights RightsValue => (Rights)Rights;

    public TreePath TreePath => Capabilities.TreePath.Parse(Path);

    /// <summary>Active and not past its expiry at <paramref name="nowMs"/> (the sweep may not have run yet).</summary>
    public bool IsLiveAt(long nowMs) => State == GrantStates.Active && (ExpiresAt is null || ExpiresAt > nowMs);

    /// <summary>True when this grant covers <paramref name="path"/>: the same path, or below a directory grant.</summary>
    public bool Covers(TreePath path) =>
        Path == path.Value || (Kind == GrantKinds.Directory && path.IsWithin(TreePath));
}

public static class GrantStates
{
    public const string Active = "active";
    public const string Stale = "stale";
    public const string Revoked = "revoked";
    public const string Expired = "expired";
}

public static class GrantKinds
{
    public const string File = "file";
    public const string Directory = "directory";
}

public static class GrantSources
{
    public const string Policy = "policy";
    public const string Cli = "cli";
    public const string Portal = "portal";
    public const string Delegation = "delegation";
}
