using Spectrum.Interop;
using static Spectrum.FuseFs.Tests.InMemoryChannel;

namespace Spectrum.FuseFs.Tests;

/// <summary>
/// The request path allocates nothing: decode, dispatch, the filesystem call and the reply for
/// READ, WRITE, GETATTR and a LOOKUP of a known node, measured on the calling thread.
/// </summary>
public sealed class AllocationTests
{
    private const uint Lookup = 1, Getattr = 3, Read = 15, Write = 16, Init = 26;

    [Fact]
    public void DataPath_ReadWriteGetattrLookup_AllocateNothingPerRequest()
    {
        using var session = new FuseSession(new StaticFileSystem(), new FuseSessionOptions { ReaderThreads = 1 });
        var channel = new DiscardChannel();
        var worker = new FuseSession.Worker(session, channel, (1 << 20) + 8192, (1 << 20) + 16, ownsChannel: false);
        session.Process(worker, Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 45, Flags = (uint)FuseInitFlags.AsyncRead })));
        session.Process(worker, Request(Lookup, 2, 1, Name("file")));
        var node = session.Nodes.TryGetNodeId(StaticFileSystem.FileKey, out var id) ? id : throw new InvalidOperationException("lookup failed");
        byte[][] requests =
        [
            Request(Read, 10, node, Bytes(new FuseReadIn { Size = 128 * 1024 })),
            Request(Write, 11, node, Bytes(new FuseWriteIn { Size = 64 * 1024 }), new byte[64 * 1024]),
            Request(Getattr, 12, node, new byte[16]),
            Request(Lookup, 13, 1, Name("file")),
        ];

        for (var warm = 0; warm < 200; warm++)
        {
            foreach (var request in requests)
            {
                session.Process(worker, request);
            }
        }

        // Rounds of 8,000 requests: a per-request allocation shows in every round (8,000 bytes at
        // least), while a one-off runtime event (tiered JIT promoting a method late on a loaded
        // machine) shows in one round only. Steady state must allocate nothing.
        var rounds = new List<long>();
        for (var round = 0; round < 5 && (rounds.Count == 0 || rounds[^1] != 0); round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 2000; i++)
            {
                foreach (var request in requests)
                {
                    session.Process(worker, request);
                }
            }

            rounds.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.True(rounds[^1] == 0, $"bytes allocated per round of 8,000 requests: {string.Join(", ", rounds)}");
        Assert.True(channel.Sent >= 8000 * rounds.Count + 800, $"{channel.Sent} replies");
    }

    private sealed class DiscardChannel : IFuseChannel
    {
        public Errno Receive(Span<byte> buffer, out int length)
        {
            length = 0;
            return Errno.ENODEV;
        }

        public int Sent { get; private set; }

        public Errno Send(ReadOnlySpan<byte> message)
        {
            Sent++;
            return Errno.OK;
        }

        public IFuseChannel Clone() => this;

        public void Dispose()
        {
        }
    }

    private sealed class StaticFileSystem : FuseFileSystem
    {
        public const ulong FileKey = 2;

        public override Errno Lookup(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry)
        {
            entry.NodeId = FileKey;
            entry.Attr.Mode = 0x81A4;
            entry.Attr.Size = 1 << 20;
            entry.SetEntryTimeout(TimeSpan.FromSeconds(1));
            return Errno.OK;
        }

        public override Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr)
        {
            attr.Attr.Mode = 0x81A4;
            return Errno.OK;
        }

        public override Errno Read(in FuseRequestContext context, ulong node, ulong fh, ulong offset, Span<byte> buffer, out int bytesRead)
        {
            buffer.Fill(0x5A);
            bytesRead = buffer.Length;
            return Errno.OK;
        }

        public override Errno Write(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ReadOnlySpan<byte> data, FuseWriteFlags flags, out int bytesWritten)
        {
            bytesWritten = data.Length;
            return Errno.OK;
        }
    }
}
