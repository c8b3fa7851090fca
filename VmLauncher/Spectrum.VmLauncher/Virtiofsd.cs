using System.Collections.Concurrent;
using System.Diagnostics;

namespace Spectrum.VmLauncher;

/// <summary>Which virtiofsd implementation a binary is; their command lines differ.</summary>
public enum VirtiofsdFlavor
{
    /// <summary>The Rust virtiofsd (Debian package <c>virtiofsd</c>, trixie and later): <c>--shared-dir D --cache never</c>.</summary>
    Rust,

    /// <summary>QEMU's C virtiofsd (Debian 12 <c>qemu-system-common</c>, <c>/usr/lib/qemu/virtiofsd</c>): <c>-o source=D,cache=none</c>.</summary>
    C,
}

/// <summary>
/// One virtiofsd per running VM, exporting <see cref="VmSpec.SharedDirectory"/> (the VM's view) on
/// <c>$RuntimeDirectory/virtiofsd.sock</c>.
/// </summary>
/// <remarks>
/// <para>Cache mode: the default <see cref="VirtiofsCache.Never"/> (C: <c>cache=none</c>) keeps no
/// guest page cache or dentry/attribute cache for the view, so every guest access reaches
/// virtiofsd and from there the view: a revoke is seen by the guest at once (the next open, stat or
/// read fails), and a new grant appears at once. The cost is that the guest re-reads everything
/// through virtio-fs (no caching of file data, more round trips for metadata). Looser modes cache
/// data/metadata in the guest and can let a revoked file stay readable for the cache's lifetime.
/// The C virtiofsd has no <c>metadata</c> mode; it is mapped to <c>auto</c> (1 s timeouts).</para>
/// <para>Not restarted: with QEMU's vhost-user-fs a guest cannot reconnect to a new virtiofsd, so if
/// virtiofsd dies the supervisor stops the VM and reports it (<see cref="SupervisedVm.VirtiofsdDied"/>).</para>
/// </remarks>
public sealed class Virtiofsd : IAsyncDisposable
{
    /// <summary>The socket's file name inside the runtime directory.</summary>
    public const string SocketName = "virtiofsd.sock";

    // sun_path is 108 bytes including the terminating NUL.
    private const int MaxSocketPath = 107;

    private static readonly string[] KnownPaths = ["/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"];

    private readonly ChildProcess process;

    private Virtiofsd(ChildProcess process, string socketPath, string binary, VirtiofsdFlavor flavor)
    {
        this.process = process;
        SocketPath = socketPath;
        Binary = binary;
        Flavor = flavor;
    }

    /// <summary>The vhost-user-fs socket the VMM connects to.</summary>
    public string SocketPath { get; }

    /// <summary>The virtiofsd binary that runs.</summary>
    public string Binary { get; }

    public VirtiofsdFlavor Flavor { get; }

    /// <summary>The virtiofsd process id.</summary>
    public int Pid => process.Pid;

    /// <summary>Completes with virtiofsd's exit status once it has exited.</summary>
    public Task<int> Exited => process.Exited;

    /// <summary>
    /// Finds virtiofsd: <c>/usr/libexec/virtiofsd</c> (Rust, Debian 13), <c>/usr/lib/qemu/virtiofsd</c>
    /// (Debian 12's C one), then <c>virtiofsd</c> on PATH. Null when there is none.
    /// </summary>
    public static string? FindBinary()
    {
        foreach (var path in KnownPaths)
        {
            if (File.Exists(path))
            {
                return path;
            }
        }

        return Interop.Executables.Find("virtiofsd");
    }

    private static readonly ConcurrentDictionary<(string Binary, DateTime Modified), VirtiofsdFlavor> Flavors = new();

    /// <summary>
    /// Tells the flavor from <c>--help</c>: only the Rust one has <c>--shared-dir</c>. Remembered
    /// per binary and modification time, so that only the first start (or an upgrade) pays for it.
    /// </summary>
    public static VirtiofsdFlavor DetectFlavor(string binary) =>
        Flavors.GetOrAdd((binary, File.GetLastWriteTimeUtc(binary)), key => AskFlavor(key.Binary));

    private static VirtiofsdFlavor AskFlavor(string binary)
    {
        var info = new ProcessStartInfo(binary, "--help")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var help = Process.Start(info) ?? throw new VmLaunchException($"cannot run {binary} --help");
        var errors = help.StandardError.ReadToEndAsync();
        var text = help.StandardOutput.ReadToEnd() + errors.GetAwaiter().GetResult();
        help.WaitForExit();
        return text.Contains("--shared-dir", StringComparison.Ordinal) ? VirtiofsdFlavor.Rust : VirtiofsdFlavor.C;
    }

    /// <summary>The command line for <paramref name="flavor"/>.</summary>
    /// <param name="flavor">Which CLI syntax.</param>
    /// <param name="socketPath">The vhost-user socket to create.</param>
    /// <param name="sharedDirectory">The directory to export.</param>
    /// <param name="cache">The cache mode.</param>
    /// <param name="chroot">Sandbox with chroot (needs root); otherwise none. Namespaces are avoided
    /// because they need privileges or user namespaces that containers often lack, and the view
    /// itself is the confinement.</param>
    public static IReadOnlyList<string> BuildArguments(VirtiofsdFlavor flavor, string socketPath, string sharedDirectory, VirtiofsCache cache, bool chroot)
    {
        ArgumentNullException.ThrowIfNull(socketPath);
        ArgumentNullException.ThrowIfNull(sharedDirectory);
        return flavor switch
        {
            VirtiofsdFlavor.Rust =>
            [
                "--socket-path", socketPath,
                "--shared-dir", sharedDirectory,
                "--cache", cache switch
                {
                    VirtiofsCache.Never => "never",
                    VirtiofsCache.Metadata => "metadata",
                    VirtiofsCache.Auto => "auto",
                    _ => "always",
                },
                "--sandbox", chroot ? "chroot" : "none",
            ],
            _ =>
            [
                "--socket-path=" + socketPath,
                "-o", "source=" + EscapeFuseOption(sharedDirectory) + ",cache=" + cache switch
                {
                    VirtiofsCache.Never => "none",
                    VirtiofsCache.Metadata or VirtiofsCache.Auto => "auto",
                    _ => "always",
                } + (chroot ? ",sandbox=chroot" : string.Empty),
            ],
        };
    }

    /// <summary>
    /// Starts virtiofsd for <paramref name="spec"/> and returns once its socket exists. A stale
    /// socket from a crashed run is removed first.
    /// </summary>
    /// <param name="spec">The VM.</param>
    /// <param name="binary">The virtiofsd to run; null finds one (<see cref="FindBinary"/>).</param>
    /// <param name="socketTimeout">How long to wait for the socket (default 5 s).</param>
    /// <param name="cancellationToken">Cancels the wait (and kills virtiofsd).</param>
    /// <exception cref="VmLaunchException">No virtiofsd, bad paths, or it exited or timed out before listening.</exception>
    public static async Task<Virtiofsd> StartAsync(VmSpec spec, string? binary = null, TimeSpan? socketTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        binary ??= FindBinary() ?? throw new VmLaunchException(
            "virtiofsd not found (looked in /usr/libexec, /usr/lib/qemu and PATH); install Debian's qemu-system-common or virtiofsd");
        if (!Directory.Exists(spec.SharedDirectory))
        {
            throw new VmLaunchException($"shared directory {spec.SharedDirectory} does not exist; mount the VM's view first");
        }

        var socketPath = Path.Combine(spec.RuntimeDirectory, SocketName);
        if (socketPath.Length > MaxSocketPath)
        {
            throw new VmLaunchException($"socket path {socketPath} is longer than {MaxSocketPath} bytes; use a shorter runtime directory");
        }

        Directory.CreateDirectory(spec.RuntimeDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.Delete(socketPath);
        var flavor = DetectFlavor(binary);
        var arguments = BuildArguments(flavor, socketPath, spec.SharedDirectory, spec.Cache, chroot: Environment.IsPrivilegedProcess);
        var process = ChildProcess.Start(binary, arguments, Path.Combine(spec.RuntimeDirectory, "virtiofsd.log"));
        var virtiofsd = new Virtiofsd(process, socketPath, binary, flavor);
        try
        {
            await SocketWait.UntilExistsAsync(socketPath, process, "virtiofsd", socketTimeout ?? TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            return virtiofsd;
        }
        catch
        {
            await virtiofsd.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Kills virtiofsd (it holds no state worth a graceful stop), waits for it, removes its socket.</summary>
    public async ValueTask DisposeAsync()
    {
        process.Kill();
        await process.Exited.ConfigureAwait(false);
        process.Dispose();
        File.Delete(SocketPath);
    }

    // libfuse's fuse_opt (which the C virtiofsd parses -o with) escapes a comma with a backslash.
    internal static string EscapeFuseOption(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(",", "\\,", StringComparison.Ordinal);
}

/// <summary>Polls for a Unix socket to appear while the process that should create it is alive.</summary>
internal static class SocketWait
{
    public static async Task UntilExistsAsync(string path, ChildProcess process, string what, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var deadline = start + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!File.Exists(path))
        {
            if (process.HasExited)
            {
                throw new VmLaunchException($"{what} exited with status {await process.Exited.ConfigureAwait(false)} before creating {path}: {process.Tail()}");
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new VmLaunchException($"{what} did not create {path} within {timeout.TotalSeconds:0.#} s: {process.Tail()}");
            }

            // virtiofsd listens within a few ms of exec, QEMU within ~50 ms: poll every
            // millisecond for the first 100 ms, then every 10 ms.
            var waited = Stopwatch.GetElapsedTime(start);
            await Task.Delay(waited < TimeSpan.FromMilliseconds(100) ? 1 : 10, cancellationToken).ConfigureAwait(false);
        }
    }
}
