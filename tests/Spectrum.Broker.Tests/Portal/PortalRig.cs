using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>
/// A real broker whose VMs run on the Cloud Hypervisor stand-in, so that each has the portal
/// channel a real guest would have (the broker listens on <c>portal.sock_219</c>), and a host
/// dialog that is either the command fallback driven by the test (<see cref="Answer"/>) or the
/// real xdg-desktop-portal-gtk on a private desktop (<see cref="PortalDesktop"/>).
/// </summary>
internal sealed class PortalRig : IAsyncDisposable
{
    /// <summary>The [portal] table every test VM gets unless the test says otherwise.</summary>
    public const string DefaultPortal = """
        [portal]
        allow = ["Documents/**", "Downloads/**", ".ssh/**"]
        deny = [".ssh/**", "Documents/secret/**"]
        max_rights = "rw"
        persistence = "session"
        """;

    private readonly GuestImage _guest;

    private PortalRig(GuestImage guest, TestDirs dirs)
    {
        _guest = guest;
        Dirs = dirs;
    }

    public TestDirs Dirs { get; }

    public BrokerProcess Broker { get; private set; } = null!;

    public BrokerClient Client => Broker.Client;

    /// <summary>Where the command fallback writes one line per dialog it was asked to show.</summary>
    public string DialogLog => Path.Combine(Dirs.Root, "dialog.log");

    public string View(string vm) => Path.Combine(Dirs.Run, "vm", vm, "view");

    public string TreePath(string relative) => Path.Combine(Dirs.Tree, relative);

    /// <summary>
    /// A broker with a demo tree (Documents/report.txt, Documents/secret/plan.txt, Music/song.ogg,
    /// .ssh/id_rsa, Downloads/) and one VM per name; the desktop tests replace the command
    /// fallback with the D-Bus backend.
    /// </summary>
    /// <param name="guest">The test guest (its kernel and initramfs).</param>
    /// <param name="vms">The VMs to declare.</param>
    /// <param name="portalToml">Every VM's [portal] table.</param>
    /// <param name="brokerPortalToml">broker.toml instead of the command fallback's.</param>
    /// <param name="env">More environment for the broker.</param>
    /// <param name="vmTable">The [vm] table per VM; null runs it on the Cloud Hypervisor stand-in with the test kernel.</param>
    /// <param name="run">Start every VM before returning.</param>
    public static async Task<PortalRig> StartAsync(GuestImage guest, string[] vms, string portalToml = DefaultPortal, string? brokerPortalToml = null, IReadOnlyDictionary<string, string>? env = null, Func<string, string>? vmTable = null, bool run = true)
    {
        var dirs = new TestDirs();
        var rig = new PortalRig(guest, dirs);
        try
        {
            dirs.Write("Documents/report.txt", "the report");
            dirs.Write("Documents/notes.txt", "notes");
            dirs.Write("Documents/secret/plan.txt", "the plan");
            dirs.Write("Music/song.ogg", "la la");
            dirs.Write(".ssh/id_rsa", "PRIVATE KEY");
            Directory.CreateDirectory(Path.Combine(dirs.Tree, "Downloads"));
            File.WriteAllText(Path.Combine(dirs.Root, "dialog.sh"), $"""
                #!/bin/sh
                # The command fallback of these tests: logs what it was asked, then answers what the
                # test wrote to answers/<vm> (first line the exit status, then the chosen paths).
                echo "$SPECTRUM_PORTAL_VM|$SPECTRUM_PORTAL_METHOD|$SPECTRUM_PORTAL_TITLE|$SPECTRUM_PORTAL_CURRENT_FOLDER|$SPECTRUM_PORTAL_CURRENT_NAME|$SPECTRUM_PORTAL_MULTIPLE|$SPECTRUM_PORTAL_DIRECTORY" >> {dirs.Root}/dialog.log
                a={dirs.Root}/answers/$SPECTRUM_PORTAL_VM
                while [ ! -f "$a" ]; do sleep 0.02; done
                code=$(head -n 1 "$a"); tail -n +2 "$a"; rm -f "$a"; exit "$code"
                """.ReplaceLineEndings("\n"));
            File.SetUnixFileMode(Path.Combine(dirs.Root, "dialog.sh"), (UnixFileMode)0b111_101_101);
            Directory.CreateDirectory(Path.Combine(dirs.Root, "answers"));
            File.WriteAllText(Path.Combine(dirs.Policies, "broker.toml"), brokerPortalToml ?? $"[portal]\ncommand = [\"{dirs.Root}/dialog.sh\"]\n");
            foreach (var vm in vms)
            {
                var table = vmTable?.Invoke(vm) ?? $"""
                    [vm]
                    kernel = "{guest.Kernel}"
                    initramfs = "{guest.Initramfs}"
                    memory = "256M"
                    """;
                dirs.Policy(vm, $"{table}\n\n{portalToml}\n");
            }

            var info = BrokerProcess.StartInfo(dirs);
            info.Environment["SPECTRUM_CLOUD_HYPERVISOR"] = FakeCloudHypervisor.Path;
            foreach (var (key, value) in env ?? new Dictionary<string, string>())
            {
                info.Environment[key] = value;
            }

            rig.Broker = await BrokerProcess.StartAsync(dirs, info);
            foreach (var vm in run ? vms : [])
            {
                await rig.Client.RunVmAsync(vm);
            }

            return rig;
        }
        catch
        {
            await rig.DisposeAsync();
            throw;
        }
    }

    /// <summary>Connects to <paramref name="vm"/>'s channel as its guest would (Cloud Hypervisor forwards vsock port 219 here).</summary>
    public async Task<PortalClient> ConnectAsync(string vm)
    {
        var path = Path.Combine(Dirs.Run, "vm", vm, "portal.sock_219");
        for (var i = 0; ; i++)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
                return new PortalClient(socket);
            }
            catch (SocketException) when (i < 100)
            {
                socket.Dispose();
                await Task.Delay(50);
            }
        }
    }

    /// <summary>Answers the next dialog of <paramref name="vm"/> shown by the command fallback: exit status, then host paths.</summary>
    public void Answer(string vm, int exitStatus, params string[] hostPaths)
    {
        var file = Path.Combine(Dirs.Root, "answers", vm);
        File.WriteAllText(file + ".tmp", string.Join('\n', [exitStatus.ToString(System.Globalization.CultureInfo.InvariantCulture), .. hostPaths]) + "\n");
        File.Move(file + ".tmp", file);
    }

    /// <summary>The dialogs the command fallback was asked to show, once there are at least <paramref name="count"/>.</summary>
    public async Task<IReadOnlyList<string[]>> DialogsAsync(int count = 1)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var lines = File.Exists(DialogLog) ? await File.ReadAllLinesAsync(DialogLog) : [];
            if (lines.Length >= count)
            {
                return lines.Select(l => l.Split('|')).ToList();
            }

            Assert.True(DateTime.UtcNow < deadline, $"the dialog was not shown {count} time(s); broker: {Broker.Output}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Broker is not null)
        {
            await Broker.StopAsync();
            await Broker.DisposeAsync();
        }

        Dirs.Dispose();
    }
}

/// <summary>A guest's end of a portal channel: JSON-RPC lines out, replies in.</summary>
internal sealed class PortalClient(Socket socket) : IDisposable
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: true);
    private readonly List<byte> _pending = [];

    public Task SendLineAsync(string json) => SendRawAsync(Encoding.UTF8.GetBytes(json + "\n"));

    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    /// <summary>Sends a request and returns its id.</summary>
    public async Task RequestAsync(int id, string method, string paramsJson = "{}") =>
        await SendLineAsync($$"""{"jsonrpc":"2.0","id":{{id}},"method":"{{method}}","params":{{paramsJson}}}""");

    /// <summary>The next reply line, parsed; fails after <paramref name="timeout"/> (default 20 s).</summary>
    public async Task<JsonElement> ReadAsync(TimeSpan? timeout = null)
    {
        var line = await ReadLineAsync(timeout ?? TimeSpan.FromSeconds(20));
        Assert.True(line is not null, "the broker closed the channel instead of replying");
        using var doc = JsonDocument.Parse(line);
        return doc.RootElement.Clone();
    }

    /// <summary>The next line, or null when the broker closed the channel.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[65536];
        while (true)
        {
            var newline = _pending.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = Encoding.UTF8.GetString(_pending.GetRange(0, newline).ToArray());
                _pending.RemoveRange(0, newline + 1);
                return line;
            }

            int n;
            try
            {
                n = await _stream.ReadAsync(buffer, cts.Token);
            }
            catch (IOException)
            {
                return null;
            }

            if (n == 0)
            {
                return null;
            }

            _pending.AddRange(buffer.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>The reply to <paramref name="id"/>, skipping others (kept for later reads in order).</summary>
    public async Task<JsonElement> ReplyToAsync(int id, TimeSpan? timeout = null)
    {
        while (true)
        {
            var reply = await ReadAsync(timeout);
            if (reply.GetProperty("id").ValueKind == JsonValueKind.Number && reply.GetProperty("id").GetInt32() == id)
            {
                return reply;
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
