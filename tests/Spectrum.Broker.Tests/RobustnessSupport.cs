using System.Diagnostics;
using System.Security.Cryptography;

namespace Spectrum.Broker.Tests;

/// <summary>External tools (sqlite3, setpriv, curl, the CLI) and state-folder helpers for the robustness tests.</summary>
internal static class Tools
{
    /// <summary>Runs a program to completion; returns its exit code, stdout and stderr.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs SQL with the sqlite3 CLI and asserts it succeeded.</summary>
    public static async Task<string> SqliteAsync(string database, string sql)
    {
        var (exit, stdout, stderr) = await RunAsync("sqlite3", "-bail", database, sql);
        Assert.True(exit == 0, $"sqlite3 failed ({exit}): {stderr}");
        return stdout;
    }

    /// <summary>Copies every file of one state folder into another's, keeping the modes.</summary>
    public static void CopyState(TestDirs from, TestDirs to)
    {
        Directory.CreateDirectory(to.State);
        File.SetUnixFileMode(to.State, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var file in Directory.GetFiles(from.State))
        {
            var target = Path.Combine(to.State, Path.GetFileName(file));
            File.Copy(file, target);
            File.SetUnixFileMode(target, File.GetUnixFileMode(file));
        }
    }

    /// <summary>SHA-256 of every file in a folder, by name: to prove a refusal changed nothing.</summary>
    public static IReadOnlyDictionary<string, string> Fingerprint(string dir) =>
        Directory.GetFiles(dir)
            .Where(f => Path.GetFileName(f) != "broker.lock")
            .ToDictionary(f => Path.GetFileName(f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))), StringComparer.Ordinal);
}
