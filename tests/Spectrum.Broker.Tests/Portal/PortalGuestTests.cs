using System.Diagnostics;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>
/// The channel as a real guest uses it under QEMU: the guest writes JSON-RPC to its virtio-serial
/// port <c>org.spectrum.portal</c> (tests/guest/checks/portal.sh), QEMU carries it to
/// <c>portal.sock</c>, the broker shows the host dialog (the command fallback, answered by the
/// test), grants the pick, and the guest then reads or saves the file at the URI it got back,
/// reporting every step on its serial console.
/// </summary>
[Collection(Vms.GuestCollection.Name)]
public sealed class PortalGuestTests(GuestImage guest) : IAsyncLifetime
{
    private PortalRig? rig;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (rig is not null)
        {
            await rig.DisposeAsync();
        }
    }

    [QemuFact]
    public async Task AGuestAsksOverVirtioSerial_ThePickAppearsAtItsRealPath_AndTheGuestReadsIt()
    {
        rig = await StartAsync("OpenFile", "");
        await rig.DialogsAsync(1);
        rig.Answer("reader", 0, rig.TreePath("Documents/report.txt"));
        var lines = await SerialAsync("reader", "SPECTRUM-DONE");

        Assert.Contains("SPECTRUM-CHECK portal-uri PASS /run/virtiofs/virtiofs0/Documents/report.txt", lines);
        Assert.Contains("SPECTRUM-CHECK portal-read PASS the report", lines);
        Assert.Contains("SPECTRUM-CHECK portal-list PASS report.txt ", lines);
        Assert.DoesNotContain(lines, l => l.Contains(" FAIL ", StringComparison.Ordinal));
        var grant = Assert.Single(await rig.Client.ListAsync("reader", all: true));
        Assert.Equal(("Documents/report.txt", "ro", "portal"), (grant.Path, grant.Rights, grant.Source));
    }

    [QemuFact]
    public async Task AGuestSavesANewFile_ByWritingATemporaryAndRenamingIt_AndTheHostGetsExactlyThatFile()
    {
        rig = await StartAsync("SaveFile", "spectrum.portal_name=minutes.txt");
        var dialog = Assert.Single(await rig.DialogsAsync(1));
        rig.Answer("reader", 0, rig.TreePath("Documents/minutes.txt"));
        var lines = await SerialAsync("reader", "SPECTRUM-DONE");

        Assert.Equal(("SaveFile", "minutes.txt"), (dialog[1], dialog[4]));
        Assert.Contains("SPECTRUM-CHECK portal-save PASS /run/virtiofs/virtiofs0/Documents/minutes.txt", lines);
        Assert.Contains("SPECTRUM-CHECK portal-read PASS saved by the guest", lines);
        Assert.Contains("SPECTRUM-CHECK portal-list PASS minutes.txt ", lines);
        Assert.DoesNotContain(lines, l => l.Contains(" FAIL ", StringComparison.Ordinal));
        Assert.Equal("saved by the guest\n", await File.ReadAllTextAsync(rig.TreePath("Documents/minutes.txt")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(rig.TreePath("Documents")).Select(Path.GetFileName), n => n!.StartsWith('.'));
    }

    private async Task<PortalRig> StartAsync(string method, string args)
    {
        var started = await PortalRig.StartAsync(guest, ["reader"], run: false, vmTable: _ => $"""
            [vm]
            kernel = "{guest.Kernel}"
            initramfs = "{guest.Initramfs}"
            disks = ["{guest.Disk}"]
            cmdline = "console=ttyS0 quiet spectrum.check=portal spectrum.portal_method={method} {args}"
            memory = "256M"
            vmm = "qemu"
            """);
        rig = started;
        await started.Client.RunVmAsync("reader");
        return started;
    }

    /// <summary>The SPECTRUM-* lines of the VM's serial log once one starts with <paramref name="marker"/>.</summary>
    private async Task<IReadOnlyList<string>> SerialAsync(string vm, string marker)
    {
        var log = Path.Combine(rig!.Dirs.Run, "vm", vm, "serial.log");
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var lines = File.Exists(log)
                ? (await File.ReadAllLinesAsync(log)).Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("SPECTRUM-", StringComparison.Ordinal)).ToList()
                : [];
            if (lines.Any(l => l.StartsWith(marker, StringComparison.Ordinal)))
            {
                return lines;
            }

            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(90), $"no {marker} in {log} after 90 s: {string.Join(" | ", lines)}; broker: {rig.Broker.Output}");
            await Task.Delay(100);
        }
    }
}
