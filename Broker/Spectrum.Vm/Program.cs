using Spectrum.Vm;

return await Cli.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
