using BenchmarkDotNet.Attributes;
using NSec.Cryptography;
using Spectrum.Capabilities;

namespace Spectrum.Bench;

/// <summary>
/// Token verification cost per core (BENCHMARKS.md, control path): decode + chain + caveat
/// clearing + revocation lookup, for 1, 4 and 8 caveats, measured in the same run as an Ed25519
/// verify of a 64-byte message, the reference the figures are reported against.
/// </summary>
[MemoryDiagnoser]
public class TokenBenchmarks : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly VerifyContext _request = new(TreePath.Parse("Documents/tax/2025.pdf"), Rights.Read, Now, "vm-a");
    private readonly RevocationSet _revoked = new();
    private TokenKeyRing? _keys;
    private TokenVerifier? _verifier;
    private string _token1 = "";
    private string _token4 = "";
    private string _token8 = "";

    private Key? _signingKey;
    private PublicKey? _publicKey;
    private byte[] _message = [];
    private byte[] _signature = [];

    /// <summary>Mints the tokens and signs the reference message.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _keys = TokenKeyRing.Create(1, TokenKeyRing.GenerateRootKey());
        _verifier = new TokenVerifier(_keys);
        var issuer = new TokenIssuer(_keys);
        var grant = GrantId.New();
        Caveat[] all =
        [
            Caveat.Path(TreePath.Parse("Documents")),
            Caveat.OfRights(Rights.ReadWrite),
            Caveat.NotAfter(Now.AddDays(1)),
            Caveat.Holder("vm-a"),
            Caveat.Path(TreePath.Parse("Documents/tax")),
            Caveat.OfRights(Rights.ReadOnly),
            Caveat.NotBefore(Now.AddDays(-1)),
            Caveat.Label("benchmark"),
        ];
        _token1 = issuer.Mint(grant, all[..1]).Encode();
        _token4 = issuer.Mint(grant, all[..4]).Encode();
        _token8 = issuer.Mint(grant, all).Encode();

        // A realistic revocation set: a thousand unrelated revoked ids.
        for (var i = 0; i < 1000; i++)
        {
            _revoked.Add(RevocationId.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        }

        _signingKey = Key.Create(SignatureAlgorithm.Ed25519);
        _publicKey = _signingKey.PublicKey;
        _message = System.Security.Cryptography.RandomNumberGenerator.GetBytes(64);
        _signature = SignatureAlgorithm.Ed25519.Sign(_signingKey, _message);

        foreach (var token in new[] { _token1, _token4, _token8 })
        {
            if (!_verifier.Verify(token, _request, _revoked).IsValid)
            {
                throw new InvalidOperationException("benchmark token does not verify");
            }
        }
    }

    /// <summary>Verify a token with one caveat.</summary>
    [Benchmark]
    public bool TokenVerify1() => _verifier!.Verify(_token1, _request, _revoked).IsValid;

    /// <summary>Verify a token with four caveats.</summary>
    [Benchmark]
    public bool TokenVerify4() => _verifier!.Verify(_token4, _request, _revoked).IsValid;

    /// <summary>Verify a token with eight caveats.</summary>
    [Benchmark]
    public bool TokenVerify8() => _verifier!.Verify(_token8, _request, _revoked).IsValid;

    /// <summary>Reference: Ed25519 verify of a 64-byte message (libsodium via NSec).</summary>
    [Benchmark(Baseline = true)]
    public bool Ed25519Verify() => SignatureAlgorithm.Ed25519.Verify(_publicKey!, _message, _signature);

    /// <summary>Frees the keys.</summary>
    [GlobalCleanup]
    public void Dispose()
    {
        _keys?.Dispose();
        _signingKey?.Dispose();
        GC.SuppressFinalize(this);
    }
}
