using Spectrum.Cli;

namespace Spectrum.Tests.Shared;

/// <summary>The shared <see cref="CliRun"/>, running <c>spectrum-vm</c>.</summary>
public sealed partial record CliRun
{
    public static partial string Tool => global::Spectrum.Vm.Cli.Name;

    private static partial Task<int> InvokeAsync(string[] args, CliContext context) => global::Spectrum.Vm.Cli.RunAsync(args, context);
}
