using Spectrum.Grant;

return await Cli.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
