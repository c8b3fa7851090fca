using Spectrum.FuseFs;

namespace Spectrum.Broker.Views;

/// <summary>
/// Who may use a VM's view: its device backend (the VM's virtiofsd, by process id) and admins
/// (root, and the uid the broker runs as). A view is mounted <c>allow_other</c>, because virtiofsd
/// switches to the guest's credentials for some operations, and without this every local user
/// could reach every VM's grants through it (with the broker's, that is root's, access to the
/// tree). The runtime folders are 0700 as well; this holds even for a process that got in through
/// an inherited working directory or a passed fd.
/// </summary>
/// <remarks>
/// The FUSE request header carries the caller's fsuid in the mounter's user namespace (a user
/// namespace's "root" is its real uid there) and its thread group id in the mounter's pid
/// namespace (0 from another pid namespace). virtiofsd's own threads share its pid whatever
/// credentials they switch to. Requests the kernel makes for itself (writeback) carry uid 0.
/// </remarks>
internal sealed class ViewCallers : IFuseCallerFilter
{
    private readonly uint _brokerUid;
    private readonly Action<uint, uint, uint> _refused;
    private readonly Lock _lock = new();
    private volatile int[] _backends = [];

    /// <param name="brokerUid">The broker's own uid (an admin; 0 when it runs as root).</param>
    /// <param name="refused">Told of each refused request (uid, gid, pid): for the aggregated deny records.</param>
    public ViewCallers(uint brokerUid, Action<uint, uint, uint> refused)
    {
        _brokerUid = brokerUid;
        _refused = refused;
    }

    /// <summary>The device backends now allowed (process ids).</summary>
    public IReadOnlyList<int> Backends => _backends;

    public bool Accepts(uint uid, uint gid, uint pid)
    {
        if (uid == 0 || uid == _brokerUid)
        {
            return true;
        }

        foreach (var backend in _backends)
        {
            if (pid != 0 && (uint)backend == pid)
            {
                return true;
            }
        }

        return false;
    }

    public void Refused(uint opcode, uint uid, uint gid, uint pid) => _refused(uid, gid, pid);

    /// <summary>Lets the backend process <paramref name="pid"/> in (its virtiofsd has just started, before the VMM can connect).</summary>
    public void Allow(int pid)
    {
        lock (_lock)
        {
            if (Array.IndexOf(_backends, pid) < 0)
            {
                _backends = [.. _backends, pid];
            }
        }
    }

    /// <summary>Shuts the backend <paramref name="pid"/> out again (it has exited: its pid may be reused by anyone).</summary>
    public void Disallow(int pid)
    {
        lock (_lock)
        {
            _backends = Array.FindAll(_backends, p => p != pid);
        }
    }
}
