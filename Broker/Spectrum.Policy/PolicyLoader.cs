using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Spectrum.Policy.Toml;

namespace Spectrum.Policy;

/// <summary>
/// Loads a policy directory: <c>broker.toml</c> (optional) and <c>vms/*.toml</c>, one file per
/// VM, the VM name being the file name without <c>.toml</c>. Strict: an unknown table or key, a
/// value of the wrong type or out of range, or a TOML syntax error is an error at its
/// <c>file:line:column</c>, and every file is checked even after one fails, so one bad file can
/// never silently drop the rest: either the whole directory loads or nothing does.
/// </summary>
public static class PolicyLoader
{
    /// <summary>The host-wide file, directly in the policy directory.</summary>
    public const string BrokerFileName = "broker.toml";

    /// <summary>The folder holding one <c>&lt;vm&gt;.toml</c> per VM.</summary>
    public const string VmsDirectoryName = "vms";

    /// <summary>The extension of policy files; other files in <c>vms/</c> are ignored.</summary>
    public const string Extension = ".toml";

    /// <summary>Longest VM name.</summary>
    public const int MaxVmNameLength = 64;

    /// <summary>Largest policy file read: policies are small; this bounds what a bad file can cost.</summary>
    public const long MaxFileBytes = 1 << 20;

    /// <summary>
    /// Loads every policy in <paramref name="directory"/>.
    /// </summary>
    /// <param name="directory">The policy directory.</param>
    /// <param name="checkFiles">Also require that the <c>[vm]</c> kernel, initramfs and disk files exist.</param>
    /// <exception cref="PolicyException">Any file is invalid; carries every error of every file.</exception>
    public static PolicySet Load(string directory, bool checkFiles = false)
    {
        var errors = new List<PolicyError>();
        var set = LoadCore(directory, checkFiles, errors);
        if (errors.Count > 0 || set is null)
        {
            throw new PolicyException(errors);
        }

        return set;
    }

    /// <summary>
    /// Checks every policy in <paramref name="directory"/> (<c>policy check</c>): every error of
    /// every file, empty when <see cref="Load"/> would succeed.
    /// </summary>
    public static IReadOnlyList<PolicyError> Check(string directory, bool checkFiles = false)
    {
        var errors = new List<PolicyError>();
        LoadCore(directory, checkFiles, errors);
        return errors;
    }

    /// <summary>
    /// True for a valid VM name: 1..64 characters of <c>a-z 0-9 . _ -</c>, starting with a letter
    /// or digit (so it is safe as a file name, a runtime directory name and a virtio-fs tag part).
    /// </summary>
    public static bool IsValidVmName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxVmNameLength || !char.IsAsciiLetterLower(name[0]) && !char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static PolicySet? LoadCore(string directory, bool checkFiles, List<PolicyError> errors)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!System.IO.Directory.Exists(directory))
        {
            errors.Add(new PolicyError(directory, 0, 0,
                "policy directory does not exist; create it, or point the broker at your policies with --policies DIR or SPECTRUM_POLICIES"));
            return null;
        }

        var broker = BrokerPolicy.Default;
        var brokerFile = Path.Combine(directory, BrokerFileName);
        if (File.Exists(brokerFile))
        {
            broker = ParseFile(brokerFile, errors, (root, fileErrors) => BrokerFileParser.Parse(root, brokerFile, fileErrors)) ?? broker;
        }

        var vms = new List<KeyValuePair<string, VmPolicy>>();
        var vmsDirectory = Path.Combine(directory, VmsDirectoryName);
        if (System.IO.Directory.Exists(vmsDirectory))
        {
            string[] files;
            try
            {
                files = System.IO.Directory.GetFiles(vmsDirectory);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new PolicyError(vmsDirectory, 0, 0, "cannot list the VM policies: " + e.Message));
                files = [];
            }

            // Sorted so that errors, and everything else, come out the same on every file system.
            Array.Sort(files, StringComparer.Ordinal);
            foreach (var file in files)
            {
                var fileName = Path.GetFileName(file);
                if (!fileName.EndsWith(Extension, StringComparison.Ordinal))
                {
                    continue;
                }

                var name = fileName[..^Extension.Length];
                if (!IsValidVmName(name))
                {
                    errors.Add(new PolicyError(file, 0, 0,
                        $"'{name}' is not a valid VM name (the name is the file name without .toml); use 1 to {MaxVmNameLength} characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit, and rename the file"));
                    continue;
                }

                var vm = ParseFile(file, errors, (root, fileErrors) => VmFileParser.Parse(name, root, file, directory, checkFiles, fileErrors));
                if (vm is not null)
                {
                    vms.Add(new(name, vm));
                }
            }
        }

        return errors.Count > 0
            ? null
            : new PolicySet { Broker = broker, Vms = new EquatableSortedMap<VmPolicy>(vms), Directory = directory };
    }

    /// <summary>Reads, parses and validates one file; its errors are appended sorted by position.</summary>
    private static T? ParseFile<T>(string file, List<PolicyError> errors, Func<TomlTableNode, List<PolicyError>, T> parse)
        where T : class
    {
        var fileErrors = new List<PolicyError>();
        T? result = null;
        var text = ReadText(file, fileErrors);
        if (text is not null && TomlDocumentBuilder.Build(text, file, fileErrors) is { } root)
        {
            result = parse(root, fileErrors);
        }

        errors.AddRange(fileErrors.OrderBy(e => e.Line).ThenBy(e => e.Column));
        return fileErrors.Count == 0 ? result : null;
    }

    /// <summary>The file as text; TOML is UTF-8, so invalid UTF-8 is an error at the offending byte, never silently replaced.</summary>
    private static string? ReadText(string file, List<PolicyError> errors)
    {
        byte[] bytes;
        try
        {
            if (new FileInfo(file).Length > MaxFileBytes)
            {
                errors.Add(new PolicyError(file, 0, 0, $"file is larger than {MaxFileBytes} bytes; policy files are small, is this the right file?"));
                return null;
            }

            bytes = File.ReadAllBytes(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors.Add(new PolicyError(file, 0, 0, "cannot read the file: " + e.Message));
            return null;
        }

        ReadOnlySpan<byte> span = bytes;
        if (span.StartsWith("\uFEFF"u8))
        {
            span = span[3..];
        }

        var chars = new char[span.Length];
        var status = Utf8.ToUtf16(span, chars, out var read, out var written, replaceInvalidSequences: false);
        if (status != OperationStatus.Done)
        {
            var before = span[..read];
            var line = before.Count((byte)'\n') + 1;
            var lineStart = before.LastIndexOf((byte)'\n') + 1;
            var column = Encoding.UTF8.GetCharCount(before[lineStart..]) + 1;
            errors.Add(new PolicyError(file, line, column, "the file is not valid UTF-8 here; TOML files must be UTF-8"));
            return null;
        }

        return new string(chars, 0, written);
    }
}
