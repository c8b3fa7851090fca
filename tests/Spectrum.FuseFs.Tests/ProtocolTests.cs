using Spectrum.Interop;
using static Spectrum.FuseFs.Tests.InMemoryChannel;

namespace Spectrum.FuseFs.Tests;

/// <summary>The session against requests a test writes byte for byte, over an in-memory channel.</summary>
public sealed class ProtocolTests : IDisposable
{
    private const uint Lookup = 1, Forget = 2, Getattr = 3, Write = 16, Flush = 25, Init = 26, Setlkw = 33, Interrupt = 36, BatchForget = 42, Readdirplus = 44;

    private readonly InMemoryChannel _channel = new();
    private readonly ScriptedFileSystem _fs = new();
    private readonly List<string> _log = [];
    private readonly FuseSession _session;

    public ProtocolTests()
    {
        _session = new FuseSession(_fs, new FuseSessionOptions { ReaderThreads = 2, Log = (m, e) => { lock (_log) { _log.Add(m); } } });
        _session.Start(_channel);
    }

    public void Dispose() => _session.Dispose();

    [Fact]
    public void Init_KernelOffer_TakesSmallerMinorAndOnlyOfferedFlags()
    {
        var offered = FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.BigWrites | FuseInitFlags.MaxPages | FuseInitFlags.WritebackCache;
        _channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 31, MaxReadahead = 131072, Flags = (uint)offered })));
        var reply = _channel.Next();
        Assert.Equal(Errno.OK, reply.Error);
        Assert.Equal(64, reply.Payload.Length);
        var init = reply.Read<FuseInitOut>();
        Assert.Equal(7u, init.Major);
        Assert.Equal(31u, init.Minor);
        Assert.Equal((uint)(FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites | FuseInitFlags.MaxPages), init.Flags);
        Assert.Equal(0u, init.Flags2);
        Assert.Equal(1u << 20, init.MaxWrite);
        Assert.Equal(256, init.MaxPages);
        Assert.Equal(131072u, init.MaxReadahead);
        Assert.True(_session.Initialized.IsCompletedSuccessfully);
        Assert.Equal(_session.Connection, _fs.Connection);
    }

    [Fact]
    public void Init_Flags2_AreHonouredOnlyWithInitExt()
    {
        var session = new FuseSession(new ScriptedFileSystem(), new FuseSessionOptions { ReaderThreads = 1, Passthrough = true });
        using var channel = new InMemoryChannel();
        session.Start(channel);
        var flags = FuseInitFlags.AsyncRead | FuseInitFlags.InitExt;
        channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 45, Flags = (uint)flags, Flags2 = (uint)((ulong)FuseInitFlags.Passthrough >> 32) })));
        var init = channel.Next().Read<FuseInitOut>();
        Assert.Equal(45u, init.Minor);
        Assert.Equal((uint)flags, init.Flags);
        Assert.Equal((uint)((ulong)FuseInitFlags.Passthrough >> 32), init.Flags2);
        Assert.Equal(1u, init.MaxStackDepth);
        session.Dispose();
    }

    [Fact]
    public void Init_OldKernel_GetsTheCompatReplySize()
    {
        _channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 22 })[..16]));
        var reply = _channel.Next();
        Assert.Equal(Errno.OK, reply.Error);
        Assert.Equal(24, reply.Payload.Length);
    }

    [Fact]
    public void Init_NewerMajor_AnswersOurMajorAndWaitsForAnotherInit()
    {
        _channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 8, Minor = 1 })));
        var reply = _channel.Next();
        Assert.Equal(7u, reply.Read<uint>());
        Assert.False(_session.Initialized.IsCompleted);
        InitSession();
    }

    [Fact]
    public void Request_BeforeInit_IsAnsweredEio()
    {
        _channel.Post(Request(Getattr, 5, 1, new byte[16]));
        Assert.Equal(Errno.EIO, _channel.Next().Error);
    }

    [Fact]
    public void Malformed_Requests_AreRefusedAndTheSessionKeepsServing()
    {
        InitSession();
        var malformedBefore = _session.MalformedRequests;

        var wrongLength = Request(Getattr, 10, 1, new byte[16]);
        wrongLength[0]++; // header.len no longer matches what was read
        _channel.Post(wrongLength);
        Assert.Equal(Errno.EINVAL, _channel.Next().Error);

        _channel.Post(Request(Lookup, 11, 1, "abc"u8.ToArray()));                   // no NUL
        Assert.Equal(Errno.EINVAL, _channel.Next().Error);
        _channel.Post(Request(Lookup, 12, 1, Name("a/b")));                         // a slash in a component
        Assert.Equal(Errno.EINVAL, _channel.Next().Error);
        _channel.Post(Request(Lookup, 13, 1, Name(new string('n', 300))));          // longer than NAME_MAX
        Assert.Equal(Errno.ENAMETOOLONG, _channel.Next().Error);
        _channel.Post(Request(Write, 14, 1, Bytes(new FuseWriteIn { Size = 4096 }), new byte[10])); // claims more data than sent
        Assert.Equal(Errno.EINVAL, _channel.Next().Error);
        _channel.Post(Request(Write, 15, 1, new byte[8]));                          // shorter than fuse_write_in
        Assert.Equal(Errno.EINVAL, _channel.Next().Error);
        _channel.Post(Request(999, 16, 1));                                          // unknown opcode
        Assert.Equal(Errno.ENOSYS, _channel.Next().Error);
        _channel.Post(Request(Getattr, 17, 12345, new byte[16]));                   // a node id never handed out
        Assert.Equal(FuseErrno.ESTALE, _channel.Next().Error);
        var extensions = Request(Getattr, 18, 1, new byte[16]);
        extensions[36] = 200; // total_extlen far beyond the body
        _channel.Post(extensions);
        Assert.Equal(Errno.EINVAL, _channel.Next().Error);

        _channel.Post(new byte[10]);                                                 // a runt: no unique to answer
        _channel.Post(Request(BatchForget, 19, 0, Bytes(new FuseBatchForgetIn { Count = 1_000_000 }), new byte[16]));
        Assert.True(_channel.NoReplyWithin(TimeSpan.FromMilliseconds(200)));

        _channel.Post(Request(Getattr, 20, 1, new byte[16]));
        var ok = _channel.Next();
        Assert.Equal(Errno.OK, ok.Error);
        Assert.Equal(20ul, ok.Header.Unique);
        Assert.True(_session.MalformedRequests - malformedBefore >= 7, $"{_session.MalformedRequests - malformedBefore} counted");
    }

    [Fact]
    public void Exception_InTheFilesystem_IsAnsweredEioAndLoggedOnce()
    {
        InitSession();
        _fs.OnLookup = (string _, ref FuseEntryOut _) => throw new InvalidOperationException("boom");
        _channel.Post(Request(Lookup, 30, 1, Name("a")));
        _channel.Post(Request(Lookup, 31, 1, Name("b")));
        Assert.Equal(Errno.EIO, _channel.Next().Error);
        Assert.Equal(Errno.EIO, _channel.Next().Error);
        lock (_log)
        {
            Assert.Single(_log, m => m.Contains("Lookup", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Enosys_WhereTheKernelRemembersIt_IsAnsweredWithoutAskingAgain()
    {
        InitSession();
        _channel.Post(Request(Flush, 40, 1, new byte[24]));
        Assert.Equal(Errno.ENOSYS, _channel.Next().Error);
        _channel.Post(Request(Flush, 41, 1, new byte[24]));
        Assert.Equal(Errno.ENOSYS, _channel.Next().Error);
        Assert.Equal(1, _fs.FlushCalls);
    }

    [Fact]
    public void Lookup_ThenForget_RegistersAndReleasesTheNode()
    {
        InitSession();
        _fs.OnLookup = (string name, ref FuseEntryOut entry) => { entry.NodeId = 77; entry.Attr.Mode = 0x81A4; return Errno.OK; };
        _channel.Post(Request(Lookup, 50, 1, Name("f")));
        _channel.Post(Request(Lookup, 51, 1, Name("f")));
        var first = _channel.Next().Read<FuseEntryOut>();
        var second = _channel.Next().Read<FuseEntryOut>();
        Assert.Equal(first.NodeId, second.NodeId);
        Assert.NotEqual(77ul, first.NodeId); // the kernel sees a session node id, not the key
        Assert.Equal(1, _session.Statistics.LiveNodes);

        _channel.Post(Request(Forget, 52, first.NodeId, Bytes(new FuseForgetIn { Nlookup = 2 })));
        Assert.True(_channel.NoReplyWithin(TimeSpan.FromMilliseconds(200)));
        Assert.Equal(0, _session.Statistics.LiveNodes);
        Assert.Equal([(77ul, 2ul)], _fs.Forgotten);
    }

    [Fact]
    public void Lookup_EnoentWithTimeout_IsANegativeEntry()
    {
        InitSession();
        _fs.OnLookup = (string name, ref FuseEntryOut entry) => { entry.SetEntryTimeout(TimeSpan.FromSeconds(3)); return Errno.ENOENT; };
        _channel.Post(Request(Lookup, 60, 1, Name("missing")));
        var reply = _channel.Next();
        Assert.Equal(Errno.OK, reply.Error);
        var entry = reply.Read<FuseEntryOut>();
        Assert.Equal(0ul, entry.NodeId);
        Assert.Equal(3ul, entry.EntryValid);
        Assert.Equal(0, _session.Statistics.LiveNodes);
    }

    [Fact]
    public void Lookup_ReplyTheKernelNeverReceived_GivesTheReferenceBack()
    {
        InitSession();
        _fs.OnLookup = (string name, ref FuseEntryOut entry) => { entry.NodeId = 9; entry.Attr.Mode = 0x81A4; return Errno.OK; };
        _channel.SendResult = Errno.ENOENT; // the caller was killed: the kernel dropped the request
        _channel.Post(Request(Lookup, 70, 1, Name("f")));
        Assert.True(SpinWait.SpinUntil(() => _fs.Forgotten.Count == 1, TimeSpan.FromSeconds(5)));
        Assert.Equal([(9ul, 1ul)], _fs.Forgotten);
        Assert.Equal(0, _session.Statistics.LiveNodes);
    }

    [Fact]
    public void ReadDirPlus_FilesystemThrowsAfterAddingEntries_ReferencesAreGivenBack()
    {
        InitSession();
        _fs.OnReadDirPlus = (ref FuseDirectoryWriter writer) =>
        {
            var entry = new FuseEntryOut { NodeId = 5 };
            entry.Attr.Mode = 0x81A4;
            Assert.True(writer.TryAdd("a"u8, entry, 1));
            throw new InvalidOperationException("after one entry");
        };
        _channel.Post(Request(Readdirplus, 80, 1, Bytes(new FuseReadIn { Size = 4096 })));
        Assert.Equal(Errno.EIO, _channel.Next().Error);
        Assert.True(SpinWait.SpinUntil(() => _fs.Forgotten.Count == 1, TimeSpan.FromSeconds(5)));
        Assert.Equal([(5ul, 1ul)], _fs.Forgotten);
        Assert.Equal(0, _session.Statistics.LiveNodes);
    }

    [Fact]
    public void ReadDirPlus_DotEntriesAndEntriesThatDoNotFit_ReturnTheirReferences()
    {
        InitSession();
        _fs.OnReadDirPlus = (ref FuseDirectoryWriter writer) =>
        {
            var entry = new FuseEntryOut { NodeId = 6 };
            entry.Attr.Mode = 0x41ED;
            Assert.True(writer.TryAdd(".."u8, entry, 1));                    // never linked by the kernel
            entry.NodeId = 7;
            entry.Attr.Mode = 0x81A4;
            Assert.True(writer.TryAdd("kept"u8, entry, 2));
            entry.NodeId = 8;
            Assert.False(writer.TryAdd(new byte[255], entry, 3));           // 152 + 255 > what is left
            return Errno.OK;
        };
        _channel.Post(Request(Readdirplus, 81, 1, Bytes(new FuseReadIn { Size = 400 })));
        var reply = _channel.Next();
        Assert.Equal(Errno.OK, reply.Error);
        Assert.Equal(0ul, reply.Read<FuseEntryOut>(0).NodeId);              // ".." carries no node
        Assert.NotEqual(0ul, reply.Read<FuseEntryOut>(160).NodeId);         // "kept" does
        Assert.True(SpinWait.SpinUntil(() => _fs.Forgotten.Count == 2, TimeSpan.FromSeconds(5)));
        Assert.Equal([(6ul, 1ul), (8ul, 1ul)], _fs.Forgotten.Order());
        Assert.Equal(1, _session.Statistics.LiveNodes);
    }

    [Fact]
    public void Interrupt_OfARequestInFlight_CancelsItWithEintr()
    {
        InitSession();
        using var entered = new ManualResetEventSlim();
        _fs.OnGetAttr = token =>
        {
            entered.Set();
            return token.WaitHandle.WaitOne(TimeSpan.FromSeconds(10)) ? Errno.EINTR : Errno.OK;
        };
        _channel.Post(Request(Getattr, 100, 1, new byte[16]));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(5)));
        _channel.Post(Request(Interrupt, 101, 0, Bytes(new FuseInterruptIn { Unique = 100 })));
        var reply = _channel.Next();
        Assert.Equal(100ul, reply.Header.Unique);
        Assert.Equal(Errno.EINTR, reply.Error);
    }

    [Fact]
    public void Interrupt_OfAnUnknownRequest_IsAnsweredEagain()
    {
        InitSession();
        _channel.Post(Request(Interrupt, 201, 0, Bytes(new FuseInterruptIn { Unique = 200 })));
        var reply = _channel.Next();
        Assert.Equal(201ul, reply.Header.Unique);
        Assert.Equal(Errno.EAGAIN, reply.Error);
    }

    [Theory]
    [InlineData(true, true, FuseInitFlags.DoReaddirplus | FuseInitFlags.ReaddirplusAuto)]
    [InlineData(true, false, FuseInitFlags.DoReaddirplus)]
    [InlineData(false, true, (FuseInitFlags)0)]
    public void Init_ReaddirPlusOptions_AskForPlusAndAutoAsConfigured(bool plus, bool auto, FuseInitFlags expected)
    {
        using var channel = new InMemoryChannel();
        using var session = new FuseSession(new ScriptedFileSystem(), new FuseSessionOptions { ReaderThreads = 1, ReaddirPlus = plus, ReaddirPlusAuto = auto });
        session.Start(channel);
        var offered = FuseInitFlags.DoReaddirplus | FuseInitFlags.ReaddirplusAuto;
        channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 45, Flags = (uint)offered })));
        Assert.Equal((uint)expected, channel.Next().Read<FuseInitOut>().Flags & (uint)offered);
    }

    [Fact]
    public void SetLkw_BlockingLock_LeavesTheReaderFreeAndIsInterruptible()
    {
        using var channel = new InMemoryChannel();
        var fs = new ScriptedFileSystem();
        using var session = new FuseSession(fs, new FuseSessionOptions { ReaderThreads = 1, Locks = true });
        session.Start(channel);
        channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 45, Flags = (uint)(FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks) })));
        Assert.Equal((uint)(FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks), channel.Next().Read<FuseInitOut>().Flags);
        using var waiting = new ManualResetEventSlim();
        fs.OnSetLk = (wait, token) =>
        {
            waiting.Set();
            return wait && token.WaitHandle.WaitOne(TimeSpan.FromSeconds(10)) ? Errno.EINTR : Errno.OK;
        };

        channel.Post(Request(Setlkw, 300, 1, Bytes(new FuseLkIn { Lk = new FuseFileLock { Type = 1, End = long.MaxValue } })));
        Assert.True(waiting.Wait(TimeSpan.FromSeconds(5)));
        channel.Post(Request(Getattr, 301, 1, new byte[16])); // the only reader still serves
        Assert.Equal(301ul, channel.Next().Header.Unique);
        channel.Post(Request(Interrupt, 302, 0, Bytes(new FuseInterruptIn { Unique = 300 })));
        var reply = channel.Next();
        Assert.Equal(300ul, reply.Header.Unique);
        Assert.Equal(Errno.EINTR, reply.Error);
    }

    private void InitSession()
    {
        _channel.Post(Request(Init, 1, 0, Bytes(new FuseInitIn { Major = 7, Minor = 45, Flags = (uint)(FuseInitFlags.AsyncRead | FuseInitFlags.InitExt) })));
        Assert.Equal(Errno.OK, _channel.Next().Error);
    }

    private sealed class ScriptedFileSystem : FuseFileSystem
    {
        public delegate Errno LookupScript(string name, ref FuseEntryOut entry);

        public LookupScript? OnLookup { get; set; }

        public Func<CancellationToken, Errno>? OnGetAttr { get; set; }

        public Func<bool, CancellationToken, Errno>? OnSetLk { get; set; }

        public delegate Errno DirectoryScript(ref FuseDirectoryWriter writer);

        public DirectoryScript? OnReadDirPlus { get; set; }

        public List<(ulong Key, ulong Count)> Forgotten { get; } = [];

        public int FlushCalls;

        public FuseConnectionInfo Connection { get; private set; }

        public override void Init(FuseSession session, in FuseConnectionInfo connection) => Connection = connection;

        public override Errno Lookup(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry) =>
            OnLookup is null ? Errno.ENOENT : OnLookup(System.Text.Encoding.UTF8.GetString(name), ref entry);

        public override void Forget(ulong node, ulong references)
        {
            lock (Forgotten)
            {
                Forgotten.Add((node, references));
            }
        }

        public override Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr)
        {
            var result = OnGetAttr?.Invoke(context.Cancellation) ?? Errno.OK;
            return result == Errno.OK ? base.GetAttr(context, node, fh, ref attr) : result;
        }

        public override Errno ReadDirPlus(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ref FuseDirectoryWriter entries) =>
            OnReadDirPlus is null ? Errno.ENOSYS : OnReadDirPlus(ref entries);

        public override Errno SetLk(in FuseRequestContext context, ulong node, ulong fh, ulong owner, in FuseFileLock @lock, bool wait, bool flock) =>
            OnSetLk?.Invoke(wait, context.Cancellation) ?? Errno.ENOSYS;

        public override Errno Flush(in FuseRequestContext context, ulong node, ulong fh, ulong lockOwner)
        {
            Interlocked.Increment(ref FlushCalls);
            return base.Flush(context, node, fh, lockOwner);
        }
    }
}
