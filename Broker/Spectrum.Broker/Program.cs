return await Spectrum.Broker.Hosting.BrokerHost.RunAsync(args).ConfigureAwait(false);
