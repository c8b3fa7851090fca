using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Spectrum.FuseFs;
using Spectrum.Interop;

namespace Spectrum.Bench;

/// <summary>
/// The FuseFs request path without a kernel (issue 3: "zero allocations per request on the read
/// and write path"): a <see cref="FuseSession"/> serving a tiny in-memory filesystem over an
/// in-memory channel. Each benchmark is one request and its reply, as a reader thread serves it:
/// the channel copies a pre-encoded request into the worker's pinned request buffer (the kernel's
/// copy in), the session decodes, validates, dispatches and replies, and the channel copies the
/// reply out (the kernel's copy out). Allocated must read 0 B for READ, WRITE and GETATTR.
/// </summary>
[MemoryDiagnoser]
public class FuseSessionBenchmarks : IDisposable
{
    private const int Small = 4 * 1024;
    private const int Large = 128 * 1024;

    private readonly MemoryChannel _channel = new();
    private readonly MemoryFileSystem _fileSystem = new();
    private FuseSession? _session;
    private FuseSession.Worker? _worker;
    private byte[] _read4K = [];
    private byte[] _read128K = [];
    private byte[] _write4K = [];
    private byte[] _write128K = [];
    private byte[] _getattr = [];
    private byte[] _lookup = [];

    /// <summary>INIT, LOOKUP and OPEN of the files, then the benchmark requests encoded once and checked once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var options = new FuseSessionOptions { ReaderThreads = 1 };
        _session = new FuseSession(_fileSystem, options);
        // The buffers a reader thread gets from FuseSession.Start, without starting a thread.
        var requestSize = Math.Max(options.MaxWrite, FuseLimits.MaxNonWriteBody) + FuseLimits.HeaderRoom;
        var replySize = FuseLimits.OutHeaderSize + Math.Max(options.MaxWrite, FuseLimits.MaxXattrSize);
        _worker = new FuseSession.Worker(_session, _channel, requestSize, replySize, ownsChannel: false);

        var init = new FuseInitIn
        {
            Major = 7,
            Minor = 45,
            MaxReadahead = 128 * 1024,
            Flags = (uint)(FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites | FuseInitFlags.MaxPages | FuseInitFlags.ParallelDirops),
        };
        Expect(Serve(Encode(FuseOpcode.Init, 1, 0, Struct(init))), "INIT", Unsafe.SizeOf<FuseInitOut>());

        var large = Open(MemoryFileSystem.LargeName, unique: 2);
        var scratch = Open(MemoryFileSystem.ScratchName, unique: 4);

        _read4K = Encode(FuseOpcode.Read, 10, large.Node, Struct(new FuseReadIn { Fh = large.Fh, Offset = 8192, Size = Small }));
        _read128K = Encode(FuseOpcode.Read, 11, large.Node, Struct(new FuseReadIn { Fh = large.Fh, Offset = 0, Size = Large }));
        _write4K = Encode(FuseOpcode.Write, 12, scratch.Node, Struct(new FuseWriteIn { Fh = scratch.Fh, Offset = 4096, Size = Small }), Pattern(Small));
        _write128K = Encode(FuseOpcode.Write, 13, scratch.Node, Struct(new FuseWriteIn { Fh = scratch.Fh, Offset = 0, Size = Large }), Pattern(Large));
        _getattr = Encode(FuseOpcode.Getattr, 14, large.Node, Struct(new FuseGetAttrIn()));
        _lookup = Encode(FuseOpcode.Lookup, 15, FuseProtocol.RootId, Name(MemoryFileSystem.SmallName));

        // Every request once, checked: a benchmark of error replies would prove nothing.
        Expect(Serve(_read4K), "READ 4 KiB", Small);
        Expect(Serve(_read128K), "READ 128 KiB", Large);
        Expect(Serve(_write4K), "WRITE 4 KiB", Unsafe.SizeOf<FuseWriteOut>());
        Expect(Serve(_write128K), "WRITE 128 KiB", Unsafe.SizeOf<FuseWriteOut>());
        if (MemoryMarshal.Read<uint>(_channel.Reply(FuseLimits.OutHeaderSize)) != Large)
        {
            throw new InvalidOperationException("WRITE 128 KiB did not write 128 KiB");
        }

        Expect(Serve(_getattr), "GETATTR", Unsafe.SizeOf<FuseAttrOut>());
        Expect(Serve(_lookup), "LOOKUP", Unsafe.SizeOf<FuseEntryOut>());
    }

    /// <summary>READ of 4 KiB: decode, dispatch, copy from the file into the reply, reply.</summary>
    [Benchmark]
    public int Read4K() => Serve(_read4K);

    /// <summary>READ of 128 KiB (the kernel's default max_read for readahead).</summary>
    [Benchmark]
    public int Read128K() => Serve(_read128K);

    /// <summary>WRITE of 4 KiB: the data is a span into the request buffer, copied into the file.</summary>
    [Benchmark]
    public int Write4K() => Serve(_write4K);

    /// <summary>WRITE of 128 KiB (big writes).</summary>
    [Benchmark]
    public int Write128K() => Serve(_write128K);

    /// <summary>GETATTR of a known node.</summary>
    [Benchmark]
    public int Getattr() => Serve(_getattr);

    /// <summary>LOOKUP of a name the kernel already knows (one more reference on an existing node id).</summary>
    [Benchmark]
    public int Lookup() => Serve(_lookup);

    /// <summary>Ends the session (no threads or mount to stop: only the filesystem's Destroy).</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _session?.Dispose();
        _session = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>What a reader thread does per request: receive it into the pinned buffer, process it (which replies).</summary>
    private int Serve(byte[] request)
    {
        var worker = _worker!;
        _channel.Pending = request;
        _channel.Receive(worker.Request, out var length);
        _session!.Process(worker, worker.Request.AsSpan(0, length));
        return _channel.ReplyLength;
    }

    private (ulong Node, ulong Fh) Open(byte[] name, ulong unique)
    {
        Expect(Serve(Encode(FuseOpcode.Lookup, unique, FuseProtocol.RootId, Name(name))), "LOOKUP", Unsafe.SizeOf<FuseEntryOut>());
        var node = MemoryMarshal.Read<FuseEntryOut>(_channel.Reply(FuseLimits.OutHeaderSize)).NodeId;
        Expect(Serve(Encode(FuseOpcode.Open, unique + 1, node, Struct(new FuseOpenIn { Flags = 2 /* O_RDWR */ }))), "OPEN", Unsafe.SizeOf<FuseOpenOut>());
        var fh = MemoryMarshal.Read<FuseOpenOut>(_channel.Reply(FuseLimits.OutHeaderSize)).Fh;
        return (node, fh);
    }

    private void Expect(int replyLength, string what, int payloadLength)
    {
        var header = MemoryMarshal.Read<FuseOutHeader>(_channel.Reply(0));
        if (header.Error != 0 || replyLength != FuseLimits.OutHeaderSize + payloadLength)
        {
            throw new InvalidOperationException($"{what}: error {-header.Error}, {replyLength} bytes (expected {FuseLimits.OutHeaderSize + payloadLength})");
        }
    }

    /// <summary>A request as the kernel frames it: fuse_in_header, then the body parts (fixed argument, name or data).</summary>
    private static byte[] Encode(FuseOpcode opcode, ulong unique, ulong nodeId, params ReadOnlySpan<byte[]> parts)
    {
        var length = FuseLimits.InHeaderSize;
        foreach (var part in parts)
        {
            length += part.Length;
        }

        var message = new byte[length];
        var header = new FuseInHeader { Len = (uint)length, Opcode = opcode, Unique = unique, NodeId = nodeId, Uid = 1000, Gid = 1000, Pid = 4242 };
        MemoryMarshal.Write(message, in header);
        var position = FuseLimits.InHeaderSize;
        foreach (var part in parts)
        {
            part.CopyTo(message, position);
            position += part.Length;
        }

        return message;
    }

    private static byte[] Struct<T>(T value)
        where T : unmanaged
    {
        var bytes = new byte[Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(bytes, in value);
        return bytes;
    }

    /// <summary>A name as the kernel sends it: NUL-terminated.</summary>
    private static byte[] Name(byte[] name) => [.. name, 0];

    private static byte[] Pattern(int length)
    {
        var data = new byte[length];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i * 31);
        }

        return data;
    }

    /// <summary>
    /// A minimal message-framed channel: Receive hands out <see cref="Pending"/> (copied, as the
    /// kernel copies into the reader's buffer); Send copies the reply into a buffer allocated once.
    /// </summary>
    private sealed class MemoryChannel : IFuseChannel
    {
        private readonly byte[] _reply = GC.AllocateUninitializedArray<byte>(FuseLimits.OutHeaderSize + (1 << 20), pinned: true);

        public byte[]? Pending { get; set; }

        public int ReplyLength { get; private set; }

        public ReadOnlySpan<byte> Reply(int offset) => _reply.AsSpan(offset, ReplyLength - offset);

        public Errno Receive(Span<byte> buffer, out int length)
        {
            var request = Pending;
            Pending = null;
            if (request is null)
            {
                length = 0;
                return Errno.ENODEV;
            }

            request.CopyTo(buffer);
            length = request.Length;
            return Errno.OK;
        }

        public Errno Send(ReadOnlySpan<byte> message)
        {
            message.CopyTo(_reply);
            ReplyLength = message.Length;
            return Errno.OK;
        }

        public IFuseChannel Clone() => this;

        public void Dispose()
        {
        }
    }

    /// <summary>A root directory with three regular files held in byte arrays. Lookups are counted and forgotten exactly.</summary>
    private sealed class MemoryFileSystem : FuseFileSystem
    {
        public static readonly byte[] SmallName = "hello.txt"u8.ToArray();
        public static readonly byte[] LargeName = "large.bin"u8.ToArray();
        public static readonly byte[] ScratchName = "scratch.bin"u8.ToArray();

        private static readonly TimeSpan CacheTimeout = TimeSpan.FromSeconds(1);

        private readonly MemoryFile[] _files =
        [
            new(2, SmallName, Filled(Small), Small),
            new(3, LargeName, Filled(1 << 20), 1 << 20),
            new(4, ScratchName, new byte[1 << 20], 0),
        ];

        public override Errno Lookup(in FuseRequestContext context, ulong parent, ReadOnlySpan<byte> name, ref FuseEntryOut entry)
        {
            if (parent != FuseSession.RootKey)
            {
                return Errno.ENOTDIR;
            }

            foreach (var file in _files)
            {
                if (name.SequenceEqual(file.Name))
                {
                    Interlocked.Increment(ref file.Lookups);
                    entry.NodeId = file.Key;
                    file.Fill(ref entry.Attr);
                    entry.SetEntryTimeout(CacheTimeout);
                    entry.SetAttrTimeout(CacheTimeout);
                    return Errno.OK;
                }
            }

            entry.SetEntryTimeout(CacheTimeout); // a negative entry
            return Errno.ENOENT;
        }

        public override void Forget(ulong node, ulong references)
        {
            if (Find(node) is { } file)
            {
                Interlocked.Add(ref file.Lookups, -(long)references);
            }
        }

        public override Errno GetAttr(in FuseRequestContext context, ulong node, ulong? fh, ref FuseAttrOut attr)
        {
            if (Find(node) is not { } file)
            {
                return base.GetAttr(context, node, fh, ref attr);
            }

            file.Fill(ref attr.Attr);
            attr.SetAttrTimeout(CacheTimeout);
            return Errno.OK;
        }

        public override Errno Open(in FuseRequestContext context, ulong node, int flags, ref FuseOpenOut open)
        {
            if (Find(node) is null)
            {
                return Errno.EISDIR;
            }

            open.Fh = node; // stateless: the handle is the key
            return Errno.OK;
        }

        public override Errno Read(in FuseRequestContext context, ulong node, ulong fh, ulong offset, Span<byte> buffer, out int bytesRead)
        {
            bytesRead = 0;
            if (Find(fh) is not { } file)
            {
                return Errno.EBADF;
            }

            var length = (ulong)Volatile.Read(ref file.Length);
            if (offset >= length)
            {
                return Errno.OK;
            }

            var count = (int)Math.Min((ulong)buffer.Length, length - offset);
            file.Data.AsSpan((int)offset, count).CopyTo(buffer);
            bytesRead = count;
            return Errno.OK;
        }

        public override Errno Write(in FuseRequestContext context, ulong node, ulong fh, ulong offset, ReadOnlySpan<byte> data, FuseWriteFlags flags, out int bytesWritten)
        {
            bytesWritten = 0;
            if (Find(fh) is not { } file)
            {
                return Errno.EBADF;
            }

            if (offset > (ulong)file.Data.Length || (ulong)data.Length > (ulong)file.Data.Length - offset)
            {
                return Errno.EFBIG;
            }

            data.CopyTo(file.Data.AsSpan((int)offset));
            var end = (long)offset + data.Length;
            if (end > Volatile.Read(ref file.Length))
            {
                Volatile.Write(ref file.Length, end);
            }

            bytesWritten = data.Length;
            return Errno.OK;
        }

        private MemoryFile? Find(ulong key)
        {
            foreach (var file in _files)
            {
                if (file.Key == key)
                {
                    return file;
                }
            }

            return null;
        }

        private static byte[] Filled(int length)
        {
            var data = new byte[length];
            data.AsSpan().Fill(0x5A);
            return data;
        }
    }

    private sealed class MemoryFile(ulong key, byte[] name, byte[] data, long length)
    {
#pragma warning disable SA1401, CA1051 // fields, for Interlocked/Volatile
        public long Length = length;
        public long Lookups;
#pragma warning restore SA1401, CA1051

        public ulong Key { get; } = key;

        public byte[] Name { get; } = name;

        public byte[] Data { get; } = data;

        public void Fill(ref FuseAttr attr)
        {
            attr.Ino = Key;
            attr.Mode = 0x8000 | 0x1A4; // S_IFREG | 0644
            attr.Nlink = 1;
            attr.Uid = 1000;
            attr.Gid = 1000;
            attr.Size = (ulong)Volatile.Read(ref Length);
            attr.Blocks = (attr.Size + 511) / 512;
            attr.Blksize = 4096;
        }
    }
}
