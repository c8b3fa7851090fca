using System.Buffers.Binary;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;

namespace Spectrum.Broker.Api;

/// <summary>The process at the other end of a Unix socket, from SO_PEERCRED.</summary>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid)
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>Reads the peer of the connection serving <paramref name="context"/>; null off a Unix socket.</summary>
    public static PeerCredentials? Of(HttpContext context) => Of(context.Features.Get<IConnectionSocketFeature>()?.Socket);

    /// <summary>Reads the peer of a connected socket (the credentials it had at connect time); null off a Unix socket.</summary>
    public static PeerCredentials? Of(Socket? socket)
    {
        if (socket is null || socket.AddressFamily != AddressFamily.Unix)
        {
            return null;
        }

        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        Span<byte> ucred = stackalloc byte[12];
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        return length < 12
            ? null
            : new PeerCredentials(
                BinaryPrimitives.ReadInt32LittleEndian(ucred),
                BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]),
                BinaryPrimitives.ReadUInt32LittleEndian(ucred[8..]));
    }

    /// <summary>How the audit log names this caller.</summary>
    public string Actor => $"uid:{Uid}";
}
