using SharpFuzz;
using Spectrum.Fuzz;

// spectrum-fuzz portal               : the AFL target (afl-fuzz starts it; tests/fuzz/run.sh).
// spectrum-fuzz portal FILE|DIR ...  : runs the target once over each file, to replay a finding or check the corpus.
if (args.Length == 0 || args[0] != "portal")
{
    Console.Error.WriteLine("usage: Spectrum.Fuzz portal [FILE|DIR ...]; fuzz with tests/fuzz/run.sh portal SECONDS");
    return 2;
}

if (args.Length == 1)
{
    Fuzzer.OutOfProcess.Run(stream =>
    {
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        PortalWireTarget.Run(memory.GetBuffer().AsSpan(0, (int)memory.Length));
    });
    return 0;
}

var failed = 0;
foreach (var file in args.Skip(1).SelectMany(a => Directory.Exists(a) ? Directory.GetFiles(a) : [a]).Order(StringComparer.Ordinal))
{
    try
    {
        PortalWireTarget.Run(File.ReadAllBytes(file));
    }
    catch (Exception e)
    {
        failed++;
        Console.Error.WriteLine($"{file}: {e.GetType().Name}: {e.Message}");
    }
}

Console.WriteLine(failed == 0 ? "all inputs pass" : $"{failed} inputs fail");
return failed == 0 ? 0 : 1;
