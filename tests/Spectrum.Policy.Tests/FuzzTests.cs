using FsCheck.Xunit;

namespace Spectrum.Policy.Tests;

/// <summary>Whatever bytes sit in a policy file, loading fails only with a <see cref="PolicyException"/>.</summary>
public sealed class FuzzTests : IDisposable
{
    private readonly PolicyDirectory dir = new();

    public void Dispose() => dir.Dispose();

    [Property(MaxTest = 300)]
    public bool Load_RandomBytesAsVmFile_LoadsOrThrowsPolicyException(byte[] bytes)
    {
        dir.WriteBytes("vms/fuzz.toml", bytes ?? []);
        try
        {
            PolicyLoader.Load(dir.Path);
            return true;
        }
        catch (PolicyException e)
        {
            return e.Errors.Count > 0 && e.Errors.All(x => x.File == dir.File("vms/fuzz.toml"));
        }
    }

    [Property(MaxTest = 300)]
    public bool Load_GarbageAfterABrokenLine_ThrowsPolicyException(byte[] bytes)
    {
        // "= " can never start a TOML document, so the file is invalid whatever follows.
        dir.WriteBytes("broker.toml", [.. "= "u8, .. bytes ?? []]);
        try
        {
            PolicyLoader.Load(dir.Path);
            return false;
        }
        catch (PolicyException e)
        {
            return e.Errors.Count > 0 && e.Errors[0].File == dir.File("broker.toml");
        }
    }

    [Property(MaxTest = 300)]
    public bool Load_RandomTextInAValidShape_LoadsOrThrowsPolicyException(string key, string value, int number)
    {
        var text = $"[vm]\nkernel = \"/k\"\n{key} = \"{value}\"\ncpus = {number}\n[[grant]]\npath = \"{value}\"\nrights = \"{key}\"\n[portal]\nallow = [\"{value}\"]\n";
        dir.Write("vms/fuzz.toml", text);
        try
        {
            PolicyLoader.Load(dir.Path);
            return true;
        }
        catch (PolicyException e)
        {
            return e.Errors.Count > 0;
        }
    }
}
