namespace Spectrum.Interop.Tests;

public sealed class LockTests : IDisposable
{
    private readonly TempTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void OfdLocks_TwoFdsInOneProcess_Conflict()
    {
        _tree.File("f", "0123456789");
        using var a = _tree.Open("f", OpenFlags.ReadWrite);
        using var b = _tree.Open("f", OpenFlags.ReadWrite);

        Assert.Equal(Errno.OK, Posix.SetLock(a, new LockRecord(LockType.Write, 0, 10)));
        Assert.Equal(Errno.EAGAIN, Posix.SetLock(b, new LockRecord(LockType.Write, 5, 1)));
        Assert.Equal(Errno.EAGAIN, Posix.SetLock(b, new LockRecord(LockType.Read, 0, 0)));
        Assert.Equal(Errno.OK, Posix.SetLock(b, new LockRecord(LockType.Write, 10, 5)));

        var probe = new LockRecord(LockType.Write, 0, 0);
        Assert.Equal(Errno.OK, Posix.GetLock(b, ref probe));
        Assert.Equal(LockType.Write, probe.Type);
        Assert.Equal(0, probe.Start);
        Assert.Equal(10, probe.Length);
        Assert.Equal(-1, probe.Pid);

        Assert.Equal(Errno.OK, Posix.SetLock(a, new LockRecord(LockType.Unlock, 0, 10)));
        probe = new LockRecord(LockType.Write, 0, 10);
        Assert.Equal(Errno.OK, Posix.GetLock(b, ref probe));
        Assert.Equal(LockType.Unlock, probe.Type);
        Assert.Equal(Errno.OK, Posix.SetLockWait(b, new LockRecord(LockType.Write, 0, 10)));
    }

    [Fact]
    public void OfdLock_ClosingAnotherFd_KeepsTheLock()
    {
        _tree.File("f", "x");
        using var a = _tree.Open("f", OpenFlags.ReadWrite);
        using var b = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.SetLock(a, new LockRecord(LockType.Write, 0, 0)));
        _tree.Open("f", OpenFlags.ReadOnly).Dispose();
        Assert.Equal(Errno.EAGAIN, Posix.SetLock(b, new LockRecord(LockType.Read, 0, 0)));
    }

    [Fact]
    public async Task OfdLockWait_BlocksUntilReleased()
    {
        _tree.File("f", "x");
        using var a = _tree.Open("f", OpenFlags.ReadWrite);
        using var b = _tree.Open("f", OpenFlags.ReadWrite);
        Assert.Equal(Errno.OK, Posix.SetLock(a, new LockRecord(LockType.Write, 0, 0)));
        var waiter = Task.Run(() => Posix.SetLockWait(b, new LockRecord(LockType.Write, 0, 0)));
        Assert.NotSame(waiter, await Task.WhenAny(waiter, Task.Delay(200)));
        Assert.Equal(Errno.OK, Posix.SetLock(a, new LockRecord(LockType.Unlock, 0, 0)));
        Assert.Equal(Errno.OK, await waiter.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void OfdLock_ReadLockOnWriteOnlyFd_IsEbadf()
    {
        _tree.File("f", "x");
        using var w = _tree.Open("f", OpenFlags.WriteOnly);
        Assert.Equal(Errno.EBADF, Posix.SetLock(w, new LockRecord(LockType.Read, 0, 0)));
    }

    [Fact]
    public void Flock_ExclusiveNonBlocking_ConflictsBetweenFds()
    {
        _tree.File("f", "x");
        using var a = _tree.Open("f", OpenFlags.ReadOnly);
        using var b = _tree.Open("f", OpenFlags.ReadOnly);
        Assert.Equal(Errno.OK, Posix.Flock(a, FlockOperation.Exclusive));
        Assert.Equal(ErrnoAliases.EWOULDBLOCK, Posix.Flock(b, FlockOperation.Shared | FlockOperation.NonBlocking));
        Assert.Equal(Errno.OK, Posix.Flock(a, FlockOperation.Unlock));
        Assert.Equal(Errno.OK, Posix.Flock(b, FlockOperation.Shared | FlockOperation.NonBlocking));
    }
}
