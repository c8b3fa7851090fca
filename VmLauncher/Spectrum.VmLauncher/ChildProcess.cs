using System.Diagnostics;

namespace Spectrum.VmLauncher;

/// <summary>
/// A helper process (VMM or virtiofsd) whose stderr and stdout go to a log file in the VM's runtime
/// directory, whose last lines are kept for error messages, and whose exit is a task.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private const int TailLines = 20;

    private readonly Process process;
    private readonly StreamWriter log;
    private readonly Queue<string> tail = new();
    private readonly Lock gate = new();

    private ChildProcess(Process process, StreamWriter log)
    {
        this.process = process;
        this.log = log;
        Pid = process.Id;
        Exited = WaitAsync();
    }

    /// <summary>The process id.</summary>
    public int Pid { get; }

    /// <summary>Completes with the exit status (128 + signal for a signal) once the process has exited.</summary>
    public Task<int> Exited { get; }

    public bool HasExited => Exited.IsCompleted;

    /// <summary>Starts <paramref name="binary"/>; stdin is /dev/null-like (closed at once).</summary>
    public static ChildProcess Start(string binary, IEnumerable<string> arguments, string logPath)
    {
        var info = new ProcessStartInfo(binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var process = new Process { StartInfo = info };
        ChildProcess? child = null;
        try
        {
            process.Start();
            child = new ChildProcess(process, log);
            process.OutputDataReceived += child.OnLine;
            process.ErrorDataReceived += child.OnLine;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.StandardInput.Close();
            return child;
        }
        catch (Exception e) when (child is null)
        {
            process.Dispose();
            log.Dispose();
            throw new VmLaunchException($"cannot start {binary}: {e.Message}; install it or fix its path", e);
        }
    }

    /// <summary>The last lines the process wrote, joined, for error messages.</summary>
    public string Tail()
    {
        lock (gate)
        {
            return string.Join(" | ", tail);
        }
    }

    /// <summary>
    /// SIGKILLs the process; no-op once it has exited. Only the process itself: neither VMM nor
    /// virtiofsd (sandbox none or chroot) forks, and walking /proc for a tree costs milliseconds on
    /// every VM exit.
    /// </summary>
    public void Kill()
    {
        if (HasExited)
        {
            return;
        }

        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already exited and reaped.
        }
    }

    public void Dispose()
    {
        process.Dispose();
        lock (gate)
        {
            log.Dispose();
        }
    }

    private async Task<int> WaitAsync()
    {
        // WaitForExitAsync also waits for the redirected streams to reach EOF, so the log is complete.
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode;
    }

    private void OnLine(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
        {
            return;
        }

        lock (gate)
        {
            tail.Enqueue(e.Data);
            if (tail.Count > TailLines)
            {
                tail.Dequeue();
            }

            try
            {
                log.WriteLine(e.Data);
            }
            catch (ObjectDisposedException)
            {
                // The VM is being torn down; the tail above still has the line.
            }
        }
    }
}
