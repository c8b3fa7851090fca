using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Spectrum.Broker.State;

/// <summary>The audit actions (DESIGN.md, "Audit"). The names are the contract.</summary>
public static class AuditActions
{
    public const string Grant = "grant";
    public const string Revoke = "revoke";
    public const string Expire = "expire";
    public const string Redeem = "redeem";
    public const string Deny = "deny";
    public const string Stale = "stale";
    public const string VmStart = "vm-start";
    public const string VmStop = "vm-stop";
    public const string PolicyApply = "policy-apply";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        Grant, Revoke, Expire, Redeem, Deny, Stale, VmStart, VmStop, PolicyApply,
    };
}

/// <summary>One audit record, what the hash covers, and how.</summary>
public sealed record AuditRecord
{
    public long Seq { get; init; }
    public long TimeMs { get; init; }
    public required string Actor { get; init; }
    public string? Vm { get; init; }
    public required string Action { get; init; }
    public string? Path { get; init; }
    public string? Rights { get; init; }
    public string? GrantId { get; init; }
    public required string Result { get; init; }
    public string? Detail { get; init; }
    public byte[] PrevHash { get; init; } = [];
    public byte[] Hash { get; init; } = [];

    /// <summary>The hash of the chain before the first record.</summary>
    public static byte[] GenesisHash => new byte[32];

    /// <summary>
    /// SHA-256 over the previous hash and the record's canonical bytes:
    /// <c>prev_hash ‖ "spectrum-audit-v1\0" ‖ seq (i64 BE) ‖ time_ms (i64 BE) ‖ actor ‖ vm ‖ action ‖
    /// path ‖ rights ‖ grant_id ‖ result ‖ detail</c>, each text as u32 BE length then UTF-8, null as
    /// length 0xFFFFFFFF. This layout is frozen by a golden test.
    /// </summary>
    public byte[] ComputeHash(ReadOnlySpan<byte> prevHash)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(prevHash);
        hash.AppendData("spectrum-audit-v1\0"u8);
        Span<byte> number = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(number, Seq);
        hash.AppendData(number);
        BinaryPrimitives.WriteInt64BigEndian(number, TimeMs);
        hash.AppendData(number);
        Span<byte> length = stackalloc byte[4];
        foreach (var field in (ReadOnlySpan<string?>)[Actor, Vm, Action, Path, Rights, GrantId, Result, Detail])
        {
            if (field is null)
            {
                BinaryPrimitives.WriteUInt32BigEndian(length, uint.MaxValue);
                hash.AppendData(length);
                continue;
            }

            var bytes = Encoding.UTF8.GetBytes(field);
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }

        return hash.GetHashAndReset();
    }
}
