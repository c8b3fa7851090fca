namespace Spectrum.FuseFs;

/// <summary>
/// Decides which callers a session serves, from the credentials the kernel puts in every request
/// header (the caller's fsuid and fsgid in the mounter's user namespace, and its thread group id
/// in the mounter's pid namespace). A mount made with <c>allow_other</c> lets every local user
/// reach the filesystem; a filter narrows that to the processes it was meant for.
/// </summary>
/// <remarks>
/// Requests the kernel makes on its own behalf (writeback, the release of a file whose last
/// reference went away) carry uid, gid and pid 0. FORGET, BATCH_FORGET, INTERRUPT, RELEASE,
/// RELEASEDIR, DESTROY and NOTIFY_REPLY are never filtered: they only give back what an accepted
/// request handed out, and refusing them would leak it.
/// </remarks>
public interface IFuseCallerFilter
{
    /// <summary>
    /// True to serve the request. Called on every request, on the reader thread: must not block
    /// or allocate on the accepting path.
    /// </summary>
    bool Accepts(uint uid, uint gid, uint pid);

    /// <summary>A refused request, by its FUSE opcode (for the filter's own accounting, e.g. an audit record); the session answers EACCES. Must not block.</summary>
    void Refused(uint opcode, uint uid, uint gid, uint pid);
}
