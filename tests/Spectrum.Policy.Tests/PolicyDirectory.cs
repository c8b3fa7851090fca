namespace Spectrum.Policy.Tests;

/// <summary>A throwaway policy directory under the system temp folder.</summary>
internal sealed class PolicyDirectory : IDisposable
{
    public PolicyDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spectrum-policy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>The path of <paramref name="relative"/> as the loader names it in errors.</summary>
    public string File(string relative) => System.IO.Path.Combine(Path, relative);

    public PolicyDirectory Write(string relative, string text)
    {
        var full = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllText(full, text);
        return this;
    }

    public PolicyDirectory WriteBytes(string relative, byte[] bytes)
    {
        var full = File(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllBytes(full, bytes);
        return this;
    }

    public PolicyDirectory Vm(string name, string text) => Write($"vms/{name}.toml", text);

    /// <summary>Loads and returns the errors, failing the test if the load succeeded.</summary>
    public IReadOnlyList<PolicyError> Errors(bool checkFiles = false)
    {
        var e = Assert.Throws<PolicyException>(() => PolicyLoader.Load(Path, checkFiles));
        Assert.Equal(e.Errors, PolicyLoader.Check(Path, checkFiles));
        return e.Errors;
    }

    /// <summary>The single error of a load that must fail with exactly one.</summary>
    public PolicyError Error() => Assert.Single(Errors());

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
        }
    }
}
