using Spectrum.Interop;
using static Spectrum.FuseFs.Tests.InMemoryChannel;

namespace Spectrum.FuseFs.Tests;

/// <summary>The session's caller filter and per-request hook, over an in-memory channel (requests come from uid 1000, pid 42).</summary>
public sealed class CallerFilterTests
{
    private const uint Forget = 2, Getattr = 3, Init = 26;

    [Fact]
    public void Request_FromACallerTheFilterRefuses_IsEaccesAndReported_AndNeverReachesTheFileSystem()
    {
        var filter = new Filter(allowedPid: 7);
        var fs = new CountingFileSystem();
        using var channel = Start(fs, filter, out var session);
        channel.Post(Request(Getattr, 5, 1, new byte[16]));
        Assert.Equal(Errno.EACCES, channel.Next().Error);
        Assert.Equal(0, fs.GetAttrs);
        Assert.Equal([(Getattr, 1000u, 42u)], filter.Refusals);

        // FORGET gives back what was handed out: never filtered (and never answered).
        channel.Post(Request(Forget, 6, 1, Bytes(1UL)));
        Assert.True(channel.NoReplyWithin(TimeSpan.FromMilliseconds(200)));
        Assert.Single(filter.Refusals);
        session.Dispose();
    }

    [Fact]
    public void Request_FromAnAcceptedCaller_IsServed_AndEndsWithRequestDone()
    {
        var fs = new CountingFileSystem();
        using var channel = Start(fs, new Filter(allowedPid: 42), out var session);
        var before = fs.Done;
        channel.Post(Request(Getattr, 5, 1, new byte[16]));
        Assert.Equal(Errno.OK, channel.Next().Error);
        Assert.Equal(1, fs.GetAttrs);
        Assert.Equal(before + 1, fs.Done);
        session.Dispose();
    }

    private static InMemoryChannel Start(IFuseFileSystem fs, IFuseCallerFilter filter, out FuseSession session)
    {
        var channel = new InMemoryChannel();
        session = new FuseSession(fs, new FuseSessionOptions { ReaderThreads = 1, Callers = filter });
        session.Start(channel);
        channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 45, Flags = (uint)FuseInitFlags.AsyncRead })));
        Assert.Equal(Errno.OK, channel.Next().Error);
        return channel;
    }

    private sealed class Filter(uint allowedPid) : IFuseCallerFilter
    {
        public List<(uint Opcode, uint Uid, uint Pid)> Refusals { get; } = [];

        public bool Accepts(uint uid, uint gid, uint pid) => pid == allowedPid;

        public void Refused(uint opcode, uint uid, uint gid, uint pid)
        {
            lock (Refusals)
            {
                Refusals.Add((opcode, uid, pid));
            }
        }
    }

    private sealed class CountingFileSystem : FuseFileSystem
    {
        private int _getattrs;
        private int _done;

        public int GetAttrs => Volatile.Read(ref _getattrs);

        public int Done => Volatile.Read(ref _done);

        public override Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr)
        {
            Interlocked.Increment(ref _getattrs);
            return base.GetAttr(context, node, fh, ref attr);
        }

        public override void RequestDone() => Interlocked.Increment(ref _done);
    }
}
