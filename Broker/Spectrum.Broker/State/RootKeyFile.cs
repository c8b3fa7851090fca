using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Spectrum.Interop;

namespace Spectrum.Broker.State;

/// <summary>
/// The token root key: <c>root.key</c> in the state folder, mode 0600, never leaving the broker.
/// Text format, one epoch per line, only the live epochs (rotation drops the retired ones, so their
/// tokens fail with "unknown key epoch"):
/// <code>
/// spectrum-root-key v1
/// epoch 2 &lt;64 hex digits&gt;
/// </code>
/// The highest epoch is current. The file is created atomically (written to a temporary 0600 file,
/// fsynced, then renamed with RENAME_NOREPLACE), and replaced atomically on rotation.
/// </summary>
public sealed class RootKeyFile
{
    private const string Header = "spectrum-root-key v1";

    private RootKeyFile(string path, IReadOnlyList<(uint Epoch, byte[] Key)> epochs)
    {
        FilePath = path;
        Epochs = epochs;
    }

    public string FilePath { get; }

    /// <summary>The live epochs, ascending; the last is current.</summary>
    public IReadOnlyList<(uint Epoch, byte[] Key)> Epochs { get; }

    public uint CurrentEpoch => Epochs[^1].Epoch;

    /// <summary>Reads the key file; refuses a file others can read or one that is malformed.</summary>
    public static RootKeyFile Load(string path)
    {
        var mode = File.GetUnixFileMode(path);
        if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            throw new BrokerStartupException($"the root key {path} is readable by others (mode {Convert.ToString((int)mode, 8)}); run `chmod 600 {path}` and consider rotating it");
        }

        var lines = File.ReadAllLines(path, Encoding.ASCII);
        var epochs = new List<(uint, byte[])>();
        if (lines.Length < 2 || lines[0] != Header)
        {
            throw Corrupt(path);
        }

        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var parts = line.Split(' ');
            if (parts.Length != 3 || parts[0] != "epoch"
                || !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
                || parts[2].Length != 64)
            {
                throw Corrupt(path);
            }

            byte[] key;
            try
            {
                key = Convert.FromHexString(parts[2]);
            }
            catch (FormatException)
            {
                throw Corrupt(path);
            }

            if (epochs.Count > 0 && epoch <= epochs[^1].Item1)
            {
                throw Corrupt(path);
            }

            epochs.Add((epoch, key));
        }

        return epochs.Count == 0 ? throw Corrupt(path) : new RootKeyFile(path, epochs);
    }

    /// <summary>Creates the key file with epoch 1, atomically; if another process won the race, loads its file.</summary>
    public static RootKeyFile Create(string path)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        try
        {
            WriteAtomically(path, [(1u, key)], replace: false);
        }
        catch (SysCallException e) when (e.Errno == Errno.EEXIST)
        {
            return Load(path);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        return Load(path);
    }

    /// <summary>Starts a new epoch and retires every older one; tokens of the old epochs stop verifying.</summary>
    public RootKeyFile Rotate()
    {
        var next = CurrentEpoch + 1;
        var key = RandomNumberGenerator.GetBytes(32);
        try
        {
            WriteAtomically(FilePath, [(next, key)], replace: true);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }

        return Load(FilePath);
    }

    private static void WriteAtomically(string path, IReadOnlyList<(uint Epoch, byte[] Key)> epochs, bool replace)
    {
        var dir = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(dir, $".root.key.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        var text = new StringBuilder(Header).Append('\n');
        foreach (var (epoch, key) in epochs)
        {
            text.Append(CultureInfo.InvariantCulture, $"epoch {epoch} {Convert.ToHexStringLower(key)}\n");
        }

        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            {
                stream.Write(Encoding.ASCII.GetBytes(text.ToString()));
                stream.Flush(flushToDisk: true);
            }

            if (replace)
            {
                File.Move(temp, path, overwrite: true);
            }
            else
            {
                Files.RenameNoReplace(temp, path);
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static BrokerStartupException Corrupt(string path) =>
        new($"the root key {path} is malformed; restore it from a backup (tokens minted with a lost key cannot be verified)");
}
