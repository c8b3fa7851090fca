using System.Globalization;

namespace Spectrum.Broker.Vms;

/// <summary>
/// The processes of one running VM, as <c>$STATE/vms/&lt;vm&gt;.running</c>: written (durably)
/// once the VM runs, removed once its session has ended. A record found at start means the broker
/// died while the VM ran. Each process is named by pid and kernel start time, so that a pid reused
/// after a reboot is never mistaken for an orphan.
/// </summary>
internal sealed record VmRunRecord(string Vm, IReadOnlyList<(string Role, int Pid, ulong StartTime)> Processes)
{
    private const string Suffix = ".running";

    public static void Write(string dir, string vm, VmRun run)
    {
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var lines = new List<string>();
        foreach (var (role, pid) in new[] { ("vmm", run.Vm.Vm.Pid), ("virtiofsd", run.Vm.VirtiofsdPid) })
        {
            if (StartTimeOf(pid) is { } start)
            {
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"{role} {pid} {start}"));
            }
        }

        var path = Path.Combine(dir, vm + Suffix);
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using var writer = new StreamWriter(stream);
            writer.Write(string.Join('\n', lines) + "\n");
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }

    public static void Delete(string dir, string vm) => File.Delete(Path.Combine(dir, vm + Suffix));

    /// <summary>Every record in <paramref name="dir"/>; unreadable lines are skipped (the session still ends).</summary>
    public static IEnumerable<VmRunRecord> ReadAll(string dir)
    {
        if (!Directory.Exists(dir))
        {
            yield break;
        }

        foreach (var file in Directory.EnumerateFiles(dir, "*" + Suffix).Order(StringComparer.Ordinal))
        {
            var processes = new List<(string, int, ulong)>();
            foreach (var line in File.ReadAllLines(file))
            {
                var parts = line.Split(' ');
                if (parts.Length == 3
                    && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    && ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var start))
                {
                    processes.Add((parts[0], pid, start));
                }
            }

            yield return new VmRunRecord(Path.GetFileName(file)[..^Suffix.Length], processes);
        }
    }

    /// <summary>SIGKILLs the recorded processes that still run (same pid, same start time) and waits for them; returns how many.</summary>
    public int KillSurvivors()
    {
        var killed = 0;
        foreach (var (_, pid, start) in Processes)
        {
            if (StartTimeOf(pid) != start)
            {
                continue;
            }

            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                process.Kill();
                killed++;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Gone in the meantime.
            }

            // An orphan is reparented to init, which reaps it; wait until it is gone (or a zombie).
            for (var i = 0; i < 200 && StartTimeOf(pid) == start && !IsZombie(pid); i++)
            {
                Thread.Sleep(10);
            }
        }

        return killed;
    }

    /// <summary>The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or null when it does not exist.</summary>
    public static ulong? StartTimeOf(int pid)
    {
        var fields = StatFields(pid);
        return fields is not null && fields.Length > 19 && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start) ? start : null;
    }

    private static bool IsZombie(int pid) => StatFields(pid) is { Length: > 0 } fields && fields[0] == "Z";

    /// <summary>The fields of /proc/PID/stat after the command name (which may contain spaces): state is [0], starttime [19].</summary>
    private static string[]? StatFields(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var close = text.LastIndexOf(')');
            return close < 0 ? null : text[(close + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
