namespace Spectrum.Interop;
