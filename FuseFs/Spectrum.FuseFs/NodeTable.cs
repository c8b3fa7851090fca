using System.Collections.Concurrent;

namespace Spectrum.FuseFs;

/// <summary>Lookup accounting of a session, for tests and diagnostics.</summary>
/// <param name="LiveNodes">Nodes the kernel currently knows (the root excluded).</param>
/// <param name="Lookups">Lookup references handed to the kernel since the start.</param>
/// <param name="Forgets">Lookup references the kernel gave back (FORGET, BATCH_FORGET, undelivered replies).</param>
/// <param name="OverForgets">References the kernel forgot beyond what it held (should stay 0).</param>
/// <param name="RootReferences">Lookup references the kernel holds on the root (from ".." lookups); the root is never forgotten.</param>
public readonly record struct FuseNodeStatistics(long LiveNodes, long Lookups, long Forgets, long OverForgets, long RootReferences);

/// <summary>
/// Kernel node id ↔ filesystem node key, with the kernel's lookup count per node. Node ids are
/// allocated here, increase monotonically and are never reused, so generation is always 0.
/// </summary>
internal sealed class NodeTable
{
    private readonly ConcurrentDictionary<ulong, Node> _byId = new();
    private readonly Dictionary<ulong, Node> _byKey = [];
    private readonly Lock _lock = new();
    private ulong _nextId = FuseProtocol.RootId + 1;
    private long _lookups;
    private long _forgets;
    private long _overForgets;

    public NodeTable()
    {
        var root = new Node(FuseProtocol.RootId, FuseSession.RootKey);
        _byId[root.Id] = root;
        _byKey[root.Key] = root;
    }

    public FuseNodeStatistics Statistics
    {
        get
        {
            lock (_lock)
            {
                return new FuseNodeStatistics(_byKey.Count - 1, _lookups, _forgets, _overForgets, (long)_byId[FuseProtocol.RootId].Lookups);
            }
        }
    }

    /// <summary>The key behind a kernel node id (lock-free: every request does this).</summary>
    public bool TryGetKey(ulong nodeId, out ulong key)
    {
        if (_byId.TryGetValue(nodeId, out var node))
        {
            key = node.Key;
            return true;
        }

        key = 0;
        return false;
    }

    /// <summary>The node id the kernel knows <paramref name="key"/> by, if it knows it.</summary>
    public bool TryGetNodeId(ulong key, out ulong nodeId)
    {
        lock (_lock)
        {
            if (_byKey.TryGetValue(key, out var node))
            {
                nodeId = node.Id;
                return true;
            }
        }

        nodeId = 0;
        return false;
    }

    /// <summary>One more kernel lookup reference on <paramref name="key"/>; returns its node id (new if the kernel did not know it).</summary>
    public ulong Register(ulong key)
    {
        lock (_lock)
        {
            if (!_byKey.TryGetValue(key, out var node))
            {
                node = new Node(_nextId++, key);
                _byKey[key] = node;
                _byId[node.Id] = node;
            }

            node.Lookups++;
            _lookups++;
            return node.Id;
        }
    }

    /// <summary>
    /// The kernel dropped <paramref name="count"/> references on <paramref name="nodeId"/>. At zero
    /// the node id is retired for good. Returns the key and how many references were really held
    /// (what the filesystem gets back), or false for an unknown node id.
    /// </summary>
    public bool Forget(ulong nodeId, ulong count, out ulong key, out ulong released)
    {
        lock (_lock)
        {
            if (!_byId.TryGetValue(nodeId, out var node))
            {
                key = 0;
                released = 0;
                _overForgets += (long)Math.Min(count, long.MaxValue);
                return false;
            }

            key = node.Key;
            released = Math.Min(count, node.Lookups);
            _overForgets += (long)(count - released);
            node.Lookups -= released;
            _forgets += (long)released;
            if (node.Lookups == 0 && nodeId != FuseProtocol.RootId)
            {
                _byId.TryRemove(nodeId, out _);
                _byKey.Remove(key);
            }

            return true;
        }
    }

    private sealed class Node(ulong id, ulong key)
    {
        public ulong Id { get; } = id;

        public ulong Key { get; } = key;

        public ulong Lookups { get; set; }
    }
}
