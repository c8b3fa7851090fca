using System.Diagnostics;

namespace Spectrum.Broker.Tests.Portal;

/// <summary>
/// The stand-in for Cloud Hypervisor that the launcher's tests check against the published API
/// schema (tests/Spectrum.VmLauncher.Tests/CloudHypervisor/fake-cloud-hypervisor.c), compiled
/// once per test run. Cloud Hypervisor cannot be installed here; with the fake, a VM "runs" as
/// far as the broker can tell (its VMM, its real virtiofsd, its portal socket), which is what the
/// portal's channel tests need: the broker listens on <c>portal.sock_219</c> exactly as for a real
/// guest's hybrid vsock connection.
/// </summary>
internal static class FakeCloudHypervisor
{
    private static readonly Lazy<string> Binary = new(Compile);

    public static string Path => Binary.Value;

    private static string Compile()
    {
        var source = System.IO.Path.Combine(AppContext.BaseDirectory, "Portal", "fake-cloud-hypervisor.c");
        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"spectrum-broker-tests-fake-ch-{Environment.ProcessId}");
        using var gcc = Process.Start(new ProcessStartInfo("gcc", ["-O1", "-Wall", "-Werror", "-o", output, source]) { RedirectStandardError = true })!;
        var errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        return gcc.ExitCode == 0 ? output : throw new InvalidOperationException($"gcc failed: {errors}");
    }
}
