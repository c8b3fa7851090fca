using System.Diagnostics;
using System.Net.Sockets;

namespace Spectrum.Tests.Shared;

// Shared by the test projects that drive the real daemon (linked into each by its csproj).

/// <summary>A scratch folder with a tree, a state folder, a runtime folder and a policies folder.</summary>
public sealed class TestDirs : IDisposable
{
    public TestDirs()
    {
        // Under /tmp with 0755 so that another uid (setpriv) can reach the socket.
        Root = Directory.CreateTempSubdirectory("spectrum-test-").FullName;
        File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
        Directory.CreateDirectory(Tree);
        Directory.CreateDirectory(Path.Combine(Policies, "vms"));
        Write("Documents/report.odt", "report\n");
        Write("Documents/Work/notes.txt", "notes\n");
        Write("Pictures/wallpaper.png", "png\n");
        Write("Downloads/README.txt", "downloads\n");
        Write(".ssh/id_ed25519", "secret\n");
    }

    public string Root { get; }

    public string Tree => Path.Combine(Root, "tree");

    public string State => Path.Combine(Root, "state");

    public string Run => Path.Combine(Root, "run");

    public string Policies => Path.Combine(Root, "policies");

    public string Socket => Path.Combine(Run, "broker.sock");

    public string Database => Path.Combine(State, "broker.db");

    /// <summary>Creates a file in the tree.</summary>
    public void Write(string relative, string text)
    {
        var path = Path.Combine(Tree, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    /// <summary>Writes policies/vms/NAME.toml.</summary>
    public void Policy(string vm, string toml) => File.WriteAllText(PolicyFile(vm), toml);

    /// <summary>The path of policies/vms/NAME.toml.</summary>
    public string PolicyFile(string vm) => Path.Combine(Policies, "vms", vm + ".toml");

    public void Dispose()
    {
        // A broker killed with SIGKILL leaves its views mounted; detach them before deleting.
        foreach (var line in File.ReadAllLines("/proc/self/mountinfo"))
        {
            var mountPoint = line.Split(' ')[4];
            if (mountPoint.StartsWith(Root + "/", StringComparison.Ordinal))
            {
                using var umount = Process.Start("umount", ["-l", mountPoint]);
                umount.WaitForExit();
            }
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (ArgumentException)
        {
            // A tree deeper than PATH_MAX (the nesting tests make one): rm walks it with fds.
            using var rm = Process.Start("rm", ["-rf", Root]);
            rm.WaitForExit();
        }
        catch (IOException)
        {
            // A killed broker may still be releasing files; the temp folder is swept by the OS.
        }
    }
}

/// <summary>The real daemon, as a child process on a real socket with a real SQLite file.</summary>
public sealed class BrokerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    private BrokerProcess(TestDirs dirs, Process process)
    {
        Dirs = dirs;
        _process = process;
        Client = new Spectrum.Broker.Contracts.BrokerClient(dirs.Socket);
    }

    public TestDirs Dirs { get; }

    public Spectrum.Broker.Contracts.BrokerClient Client { get; }

    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The daemon's apphost, copied next to the tests by the project reference.</summary>
    public static string Executable => Path.Combine(AppContext.BaseDirectory, "spectrum-broker");

    public static ProcessStartInfo StartInfo(TestDirs dirs, params string[] extra)
    {
        var info = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["--tree", dirs.Tree, "--state-dir", dirs.State, "--runtime-dir", dirs.Run, "--policies", dirs.Policies, .. extra])
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["Logging__LogLevel__Default"] = "Trace";
        info.Environment.Remove("SPECTRUM_SOCKET");
        return info;
    }

    /// <summary>Starts the broker and waits until its socket answers.</summary>
    public static Task<BrokerProcess> StartAsync(TestDirs dirs, params string[] extra) => StartAsync(dirs, StartInfo(dirs, extra));

    /// <summary>Starts the broker from <paramref name="info"/> (see <see cref="StartInfo"/>: add environment there) and waits until its socket answers.</summary>
    public static async Task<BrokerProcess> StartAsync(TestDirs dirs, ProcessStartInfo info)
    {
        var process = Process.Start(info)!;
        var broker = new BrokerProcess(dirs, process);
        process.OutputDataReceived += (_, e) => broker.Append(e.Data);
        process.ErrorDataReceived += (_, e) => broker.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync();
                throw new InvalidOperationException($"broker exited with {process.ExitCode}: {broker.Output}");
            }

            if (broker.Output.Contains("Broker ready", StringComparison.Ordinal) && CanConnect(dirs.Socket))
            {
                return broker;
            }

            await Task.Delay(50);
        }

        await broker.DisposeAsync();
        throw new TimeoutException($"broker did not become ready: {broker.Output}");
    }

    /// <summary>Runs the broker expecting it to refuse to start; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunExpectingFailureAsync(TestDirs dirs, params string[] extra)
    {
        using var process = Process.Start(StartInfo(dirs, extra))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException("the broker started although it should have refused: " + await stdout);
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>A raw control API call (no CLI in between): the status code and the body text.</summary>
    public async Task<(int Status, string Body)> HttpAsync(HttpMethod method, string path, string? jsonBody = null)
    {
        var socket = Dirs.Socket;
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
                    return new NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://broker") };
        using var request = new HttpRequestMessage(method, path);
        if (jsonBody is not null)
        {
            request.Content = new StringContent(jsonBody, System.Text.Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static bool CanConnect(string socket)
    {
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(socket));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillHardAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM and wait for a clean exit; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        // kill(1) rather than a P/Invoke, so that test projects need no unsafe code.
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
