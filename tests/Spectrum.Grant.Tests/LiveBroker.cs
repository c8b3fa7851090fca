using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Spectrum.Grant.Tests;

/// <summary>A scratch folder with a tree, a state folder, a runtime folder and a policies folder.</summary>
/// <remarks>Copied from tests/Spectrum.Broker.Tests/BrokerProcess.cs (this project does not reference that one).</remarks>
public sealed class TestDirs : IDisposable
{
    public TestDirs()
    {
        // Under /tmp with 0755 so that another uid could reach the socket.
        Root = Directory.CreateTempSubdirectory("spectrum-grant-e2e-").FullName;
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
        try
        {
            Directory.Delete(Root, recursive: true);
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
    }

    public TestDirs Dirs { get; }

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

        info.Environment.Remove("SPECTRUM_SOCKET");
        return info;
    }

    /// <summary>Starts the broker and waits until its socket answers.</summary>
    public static async Task<BrokerProcess> StartAsync(TestDirs dirs, params string[] extra)
    {
        var process = Process.Start(StartInfo(dirs, extra))!;
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

            await Task.Delay(25);
        }

        await broker.DisposeAsync();
        throw new TimeoutException($"broker did not become ready: {broker.Output}");
    }

    /// <summary>Runs <c>spectrum-grant ARGS</c> in-process against this broker's socket.</summary>
    public Task<CliRun> RunAsync(params string[] args) => CliRun.RunAsync(args, socket: Dirs.Socket);

    /// <summary>Runs <c>spectrum-grant ARGS --json</c>, asserts success and decodes stdout.</summary>
    public async Task<T> JsonAsync<T>(JsonTypeInfo<T> type, params string[] args)
    {
        var run = await RunAsync([.. args, "--json"]);
        run.AssertOk();
        return JsonSerializer.Deserialize(run.Stdout, type)!;
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

    /// <summary>SIGTERM and wait for a clean exit; returns the exit code.</summary>
    public async Task<int> StopAsync()
    {
        // kill(1) rather than a P/Invoke: this project does not allow unsafe code.
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
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}

/// <summary>A fresh scratch folder and a real broker on it, per test (start-up is well under a second).</summary>
public abstract class LiveBrokerTest : IAsyncLifetime
{
    protected TestDirs Dirs { get; } = new();

    protected BrokerProcess Broker { get; private set; } = null!;

    /// <summary>Runs <c>spectrum-grant ARGS</c> against the live broker.</summary>
    protected Task<CliRun> Cli(params string[] args) => Broker.RunAsync(args);

    /// <summary>Runs <c>spectrum-grant ARGS</c> and asserts exit 0 with an empty stderr.</summary>
    protected async Task<CliRun> OkAsync(params string[] args)
    {
        var run = await Broker.RunAsync(args);
        run.AssertOk();
        return run;
    }

    /// <summary>Called before the broker starts, to lay out policies or the tree.</summary>
    protected virtual void BeforeStart()
    {
    }

    public async Task InitializeAsync()
    {
        BeforeStart();
        Broker = await BrokerProcess.StartAsync(Dirs);
    }

    public async Task DisposeAsync()
    {
        await Broker.DisposeAsync();
        Dirs.Dispose();
    }
}
