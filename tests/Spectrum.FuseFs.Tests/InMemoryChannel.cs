using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Spectrum.Interop;

namespace Spectrum.FuseFs.Tests;

/// <summary>A channel fed by the test: requests in, replies out; readers share it (Clone returns itself).</summary>
internal sealed class InMemoryChannel : IFuseChannel
{
    private readonly BlockingCollection<byte[]> _requests = [];

    public BlockingCollection<byte[]> Replies { get; } = [];

    /// <summary>When set, sends answer this errno instead of delivering (a kernel that gave up on the request).</summary>
    public Errno SendResult { get; set; }

    public Errno Receive(Span<byte> buffer, out int length)
    {
        length = 0;
        try
        {
            var request = _requests.Take();
            request.CopyTo(buffer);
            length = request.Length;
            return Errno.OK;
        }
        catch (InvalidOperationException)
        {
            return Errno.ENODEV; // completed: "unmounted"
        }
    }

    public Errno Send(ReadOnlySpan<byte> message)
    {
        if (SendResult != Errno.OK)
        {
            return SendResult;
        }

        Replies.Add(message.ToArray());
        return Errno.OK;
    }

    public IFuseChannel Clone() => this;

    public void Post(byte[] request) => _requests.Add(request);

    public void Dispose() => _requests.CompleteAdding();

    /// <summary>The next reply, or fails after a timeout.</summary>
    public Reply Next()
    {
        Assert.True(Replies.TryTake(out var reply, TimeSpan.FromSeconds(10)), "no reply");
        return new Reply(reply!);
    }

    public bool NoReplyWithin(TimeSpan time) => !Replies.TryTake(out _, time);

    /// <summary>A request: header, then the given body parts.</summary>
    public static byte[] Request(uint opcode, ulong unique, ulong nodeId, params byte[][] parts)
    {
        var body = parts.SelectMany(p => p).ToArray();
        var message = new byte[40 + body.Length];
        var header = new FuseInHeader { Len = (uint)message.Length, Opcode = (FuseOpcode)opcode, Unique = unique, NodeId = nodeId, Uid = 1000, Gid = 1000, Pid = 42 };
        MemoryMarshal.Write(message, in header);
        body.CopyTo(message, 40);
        return message;
    }

    public static byte[] Bytes<T>(T value)
        where T : unmanaged
    {
        var bytes = new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        MemoryMarshal.Write(bytes, in value);
        return bytes;
    }

    public static byte[] Name(string name) => [.. System.Text.Encoding.UTF8.GetBytes(name), 0];

    internal readonly struct Reply(byte[] bytes)
    {
        public byte[] Bytes { get; } = bytes;

        public FuseOutHeader Header => MemoryMarshal.Read<FuseOutHeader>(Bytes);

        public Errno Error => (Errno)(-Header.Error);

        public ReadOnlySpan<byte> Payload => Bytes.AsSpan(16);

        public T Read<T>(int offset = 0)
            where T : unmanaged => MemoryMarshal.Read<T>(Payload[offset..]);
    }
}
