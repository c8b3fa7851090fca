namespace Spectrum.Policy;
