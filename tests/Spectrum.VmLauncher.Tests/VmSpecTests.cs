namespace Spectrum.VmLauncher.Tests;

public class VmSpecTests
{
    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var spec = new VmSpec { Name = "editor", Kernel = "/k", SharedDirectory = "/v", RuntimeDirectory = "/r" };
        Assert.Equal(("virtiofs0", VmmKind.CloudHypervisor, VirtiofsCache.Never, 512L << 20, 1), (spec.Tag, spec.Vmm, spec.Cache, spec.MemoryBytes, spec.Cpus));
    }
}
