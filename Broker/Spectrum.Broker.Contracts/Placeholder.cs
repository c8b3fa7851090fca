namespace Spectrum.Broker.Contracts;
