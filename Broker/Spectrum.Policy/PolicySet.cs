namespace Spectrum.Policy;

/// <summary>
/// Every policy in a directory: <c>broker.toml</c> and one <see cref="VmPolicy"/> per
/// <c>vms/*.toml</c>. Deterministic: VMs are sorted by name and grants by path (ordinal), so
/// <c>policy diff</c> and <c>policy apply</c> see the same order whatever the directory
/// enumeration order.
/// </summary>
public sealed record PolicySet
{
    /// <summary>Host-wide settings (<see cref="BrokerPolicy.Default"/> when there is no broker.toml).</summary>
    public required BrokerPolicy Broker { get; init; }

    /// <summary>VM policies by name, sorted by name (ordinal).</summary>
    public required IReadOnlyDictionary<string, VmPolicy> Vms { get; init; }

    /// <summary>The directory the set was loaded from, as given to the loader.</summary>
    public required string Directory { get; init; }

    /// <summary>Every static grant of every VM, ordered by VM name, then path (ordinal).</summary>
    public IReadOnlyList<StaticGrant> StaticGrants =>
        Vms.OrderBy(v => v.Key, StringComparer.Ordinal)
            .SelectMany(v => v.Value.Grants.OrderBy(g => g.Path.Value, StringComparer.Ordinal))
            .ToArray();
}
