using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Spectrum.Broker.Portal.Wire;

/// <summary>
/// The second pass of <see cref="PortalWire.Parse"/>: reads <c>params</c> (already checked to be
/// well-formed JSON within the depth limit) into options, checking every string and array against
/// <see cref="PortalLimits"/> as it goes, so nothing unbounded is ever made. Fails closed: an
/// unknown or repeated key is an error, not ignored.
/// </summary>
internal ref struct OptionsReader
{
    private const string OptionNames =
        "title, accept_label, modal, multiple, directory, filters, current_filter, choices, current_name, current_folder, current_file, files";

    private Utf8JsonReader _reader;
    private string? _problem;

    public OptionsReader(ReadOnlySpan<byte> json)
    {
        _reader = new Utf8JsonReader(json, PortalWire.ReaderOptions);
        _problem = null;
    }

    [Flags]
    private enum Option
    {
        None = 0,
        Title = 1 << 0,
        AcceptLabel = 1 << 1,
        Modal = 1 << 2,
        Multiple = 1 << 3,
        Directory = 1 << 4,
        Filters = 1 << 5,
        CurrentFilter = 1 << 6,
        Choices = 1 << 7,
        CurrentName = 1 << 8,
        CurrentFolder = 1 << 9,
        CurrentFile = 1 << 10,
        Files = 1 << 11,
    }

    public PortalMessage ReadClose(JsonRpcId id, bool absent)
    {
        const string Shape = "'params' of Close must be {\"id\": <the id of a pending request>}";
        if (absent || !_reader.Read() || _reader.TokenType != JsonTokenType.StartObject)
        {
            return Invalid(id, Shape);
        }

        JsonRpcId? target = null;
        while (_reader.Read() && _reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!_reader.ValueTextEquals("id"u8))
            {
                return Invalid(id, $"unknown key '{PortalWire.Shown(ref _reader)}'; {Shape}");
            }

            if (target is not null)
            {
                return Invalid(id, $"key 'id' appears twice; {Shape}");
            }

            _reader.Read();
            target = PortalWire.ReadId(ref _reader);
            if (target is null)
            {
                return Invalid(id, $"'id' must be a string or an integer of at most {PortalLimits.MaxIdBytes} bytes of JSON; {Shape}");
            }
        }

        return target is null ? Invalid(id, Shape) : new CloseRequest(id, target);
    }

    public PortalMessage ReadOptions(JsonRpcId id, FileChooserMethod method, bool absent)
    {
        if (absent)
        {
            return new ChooserRequest(id, method, FileChooserOptions.Empty);
        }

        if (!_reader.Read() || _reader.TokenType != JsonTokenType.StartObject)
        {
            return Invalid(id, "'params' must be an object of options, e.g. {\"multiple\":true}");
        }

        var seen = Option.None;
        string? title = null, acceptLabel = null, currentName = null, currentFolder = null, currentFile = null;
        bool? modal = null, multiple = null, directory = null;
        IReadOnlyList<FileFilter> filters = [];
        FileFilter? currentFilter = null;
        IReadOnlyList<Choice> choices = [];
        IReadOnlyList<string> files = [];

        while (_reader.Read() && _reader.TokenType == JsonTokenType.PropertyName)
        {
            var option = Identify(ref _reader);
            if (option == Option.None)
            {
                return Invalid(id, $"unknown option '{PortalWire.Shown(ref _reader)}'; the options are {OptionNames}");
            }

            var key = Name(option);
            if ((seen & option) != 0)
            {
                return Invalid(id, $"option '{key}' appears twice; send each option once");
            }

            seen |= option;
            _reader.Read();
            var ok = option switch
            {
                Option.Title => ReadString("'title'", out title),
                Option.AcceptLabel => ReadString("'accept_label'", out acceptLabel),
                Option.CurrentName => ReadString("'current_name'", out currentName),
                Option.CurrentFolder => ReadPath(key, out currentFolder),
                Option.CurrentFile => ReadPath(key, out currentFile),
                Option.Modal => ReadBool(key, out modal),
                Option.Multiple => ReadBool(key, out multiple),
                Option.Directory => ReadBool(key, out directory),
                Option.Filters => ReadFilters(out filters),
                Option.CurrentFilter => ReadFilter("'current_filter'", out currentFilter),
                Option.Choices => ReadChoices(out choices),
                Option.Files => method == FileChooserMethod.SaveFiles
                    ? ReadFiles(out files)
                    : Fail("'files' is only for SaveFiles; drop it or call SaveFiles"),
                _ => Fail("unreachable"),
            };
            if (!ok)
            {
                return Invalid(id, _problem!);
            }
        }

        return new ChooserRequest(id, method, new FileChooserOptions
        {
            Title = title,
            AcceptLabel = acceptLabel,
            Modal = modal,
            Multiple = multiple,
            Directory = directory,
            Filters = filters,
            CurrentFilter = currentFilter,
            Choices = choices,
            CurrentName = currentName,
            CurrentFolder = currentFolder,
            CurrentFile = currentFile,
            Files = files,
        });
    }

    /// <summary>
    /// Unescapes and checks the current string token: at most <see cref="PortalLimits.MaxStringBytes"/>
    /// UTF-8 bytes, valid UTF-8 (the reader does not check raw bytes inside strings), no NUL.
    /// Returns the problem ("is …; fix"), or null with <paramref name="value"/> set.
    /// </summary>
    internal static string? TryReadText(ref Utf8JsonReader reader, out string value)
    {
        value = "";
        var raw = reader.ValueSpan;
        if (!reader.ValueIsEscaped)
        {
            return Check(raw, out value);
        }

        // Unescaping never lengthens: the raw length bounds the buffer, and the line bounds the raw length.
        var buffer = PortalWire.Rent(raw.Length);
        try
        {
            int length;
            try
            {
                length = reader.CopyString(buffer);
            }
            catch (InvalidOperationException)
            {
                return "is not valid Unicode (a \\u escape of a lone surrogate); send well-formed text";
            }

            return Check(buffer.AsSpan(0, length), out value);
        }
        finally
        {
            PortalWire.Return(buffer);
        }

        static string? Check(ReadOnlySpan<byte> text, out string value)
        {
            value = "";
            if (text.Length > PortalLimits.MaxStringBytes)
            {
                return $"is longer than {PortalLimits.MaxStringBytes} UTF-8 bytes; shorten it";
            }

            if (!Utf8.IsValid(text))
            {
                return "is not valid UTF-8; send UTF-8 text";
            }

            if (text.Contains((byte)0))
            {
                return "contains a NUL character; remove it";
            }

            value = Encoding.UTF8.GetString(text);
            return null;
        }
    }

    private bool ReadString(string where, out string? value)
    {
        value = null;
        if (_reader.TokenType != JsonTokenType.String)
        {
            return Fail($"{where} must be a string");
        }

        if (TryReadText(ref _reader, out var text) is { } problem)
        {
            return Fail($"{where} {problem}");
        }

        value = text;
        return true;
    }

    private bool ReadText(string where, out string value)
    {
        var ok = ReadString(where, out var text);
        value = text ?? "";
        return ok;
    }

    private bool ReadPath(string key, out string? value)
    {
        if (!ReadString($"'{key}'", out value))
        {
            return false;
        }

        if (!value!.StartsWith('/'))
        {
            value = null;
            return Fail($"'{key}' must be an absolute path (starting with '/') inside the VM's view mount");
        }

        return true;
    }

    private bool ReadBool(string key, out bool? value)
    {
        value = _reader.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False => false,
            _ => null,
        };
        return value is not null || Fail($"'{key}' must be true or false");
    }

    private bool ReadFilters(out IReadOnlyList<FileFilter> filters)
    {
        filters = [];
        if (!BeginArray("'filters' must be an array of [name, [[kind, pattern], ...]]"))
        {
            return false;
        }

        var list = new List<FileFilter>();
        while (NextItem(list.Count, "'filters'"))
        {
            if (!ReadFilter($"'filters' item {list.Count}", out var filter))
            {
                return false;
            }

            list.Add(filter!);
        }

        filters = list;
        return _problem is null;
    }

    /// <summary>D-Bus <c>(sa(us))</c> as <c>[name, [[kind, pattern], ...]]</c>, the current token its opening bracket.</summary>
    private bool ReadFilter(string where, out FileFilter? filter)
    {
        filter = null;
        var shape = $"{where} must be [name, [[kind, pattern], ...]] with kind 0 (glob) or 1 (MIME type)";
        if (_reader.TokenType != JsonTokenType.StartArray || !_reader.Read() || !ReadText($"{where} name", out string name))
        {
            return Fail(shape);
        }

        if (!_reader.Read() || _reader.TokenType != JsonTokenType.StartArray)
        {
            return Fail(shape);
        }

        var rules = new List<FilterRule>();
        while (NextItem(rules.Count, $"{where} rules"))
        {
            if (_reader.TokenType != JsonTokenType.StartArray || !_reader.Read())
            {
                return Fail(shape);
            }

            if (_reader.TokenType != JsonTokenType.Number || !_reader.TryGetUInt32(out var kind) || kind > 1)
            {
                return Fail($"{where} rule {rules.Count}: kind must be 0 (glob) or 1 (MIME type)");
            }

            if (!_reader.Read() || !ReadText($"{where} rule {rules.Count} pattern", out string pattern))
            {
                return Fail(shape);
            }

            if (!_reader.Read() || _reader.TokenType != JsonTokenType.EndArray)
            {
                return Fail(shape);
            }

            rules.Add(new FilterRule(kind, pattern));
        }

        if (_problem is not null || !_reader.Read() || _reader.TokenType != JsonTokenType.EndArray)
        {
            return Fail(shape);
        }

        filter = new FileFilter(name, rules);
        return true;
    }

    /// <summary>D-Bus <c>a(ssa(ss)s)</c> as <c>[[id, label, [[optionId, optionLabel], ...], selected], ...]</c>.</summary>
    private bool ReadChoices(out IReadOnlyList<Choice> choices)
    {
        choices = [];
        const string Shape = "each of 'choices' must be [id, label, [[optionId, optionLabel], ...], selected]";
        if (!BeginArray("'choices' must be an array; " + Shape))
        {
            return false;
        }

        var list = new List<Choice>();
        while (NextItem(list.Count, "'choices'"))
        {
            var where = $"'choices' item {list.Count}";
            if (_reader.TokenType != JsonTokenType.StartArray
                || !_reader.Read() || !ReadText($"{where} id", out string choiceId)
                || !_reader.Read() || !ReadText($"{where} label", out string label)
                || !_reader.Read() || !BeginArray($"{where} options must be an array; {Shape}"))
            {
                return Fail(Shape);
            }

            var options = new List<ChoiceOption>();
            while (NextItem(options.Count, $"{where} options"))
            {
                if (_reader.TokenType != JsonTokenType.StartArray
                    || !_reader.Read() || !ReadText($"{where} option {options.Count} id", out string optionId)
                    || !_reader.Read() || !ReadText($"{where} option {options.Count} label", out string optionLabel)
                    || !_reader.Read() || _reader.TokenType != JsonTokenType.EndArray)
                {
                    return Fail(Shape);
                }

                options.Add(new ChoiceOption(optionId, optionLabel));
            }

            if (_problem is not null
                || !_reader.Read() || !ReadText($"{where} selected", out string selected)
                || !_reader.Read() || _reader.TokenType != JsonTokenType.EndArray)
            {
                return Fail(Shape);
            }

            list.Add(new Choice(choiceId, label, options, selected));
        }

        choices = list;
        return _problem is null;
    }

    private bool ReadFiles(out IReadOnlyList<string> files)
    {
        files = [];
        if (!BeginArray("'files' must be an array of file names"))
        {
            return false;
        }

        var list = new List<string>();
        while (NextItem(list.Count, "'files'"))
        {
            if (!ReadText($"'files' item {list.Count}", out string file))
            {
                return false;
            }

            if (file.Length == 0 || file is "." or ".." || file.Contains('/'))
            {
                return Fail($"'files' item {list.Count} must be a file name (not empty, '.', '..' or containing '/')");
            }

            list.Add(file);
        }

        files = list;
        return _problem is null;
    }

    private bool BeginArray(string problem) => _reader.TokenType == JsonTokenType.StartArray || Fail(problem);

    /// <summary>Moves to the next item of the current array: false at its end, or past <see cref="PortalLimits.MaxArrayItems"/> (with the problem set).</summary>
    private bool NextItem(int count, string what)
    {
        if (!_reader.Read() || _reader.TokenType == JsonTokenType.EndArray)
        {
            return false;
        }

        if (count >= PortalLimits.MaxArrayItems)
        {
            return Fail($"{what} has more than {PortalLimits.MaxArrayItems} items; send fewer");
        }

        return true;
    }

    private bool Fail(string problem)
    {
        _problem ??= problem;
        return false;
    }

    private static PortalWireError Invalid(JsonRpcId id, string message) => new(id, PortalErrorCode.InvalidParams, message);

    private static Option Identify(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("title"u8) ? Option.Title
        : reader.ValueTextEquals("accept_label"u8) ? Option.AcceptLabel
        : reader.ValueTextEquals("modal"u8) ? Option.Modal
        : reader.ValueTextEquals("multiple"u8) ? Option.Multiple
        : reader.ValueTextEquals("directory"u8) ? Option.Directory
        : reader.ValueTextEquals("filters"u8) ? Option.Filters
        : reader.ValueTextEquals("current_filter"u8) ? Option.CurrentFilter
        : reader.ValueTextEquals("choices"u8) ? Option.Choices
        : reader.ValueTextEquals("current_name"u8) ? Option.CurrentName
        : reader.ValueTextEquals("current_folder"u8) ? Option.CurrentFolder
        : reader.ValueTextEquals("current_file"u8) ? Option.CurrentFile
        : reader.ValueTextEquals("files"u8) ? Option.Files
        : Option.None;

    private static string Name(Option option) => option switch
    {
        Option.Title => "title",
        Option.AcceptLabel => "accept_label",
        Option.Modal => "modal",
        Option.Multiple => "multiple",
        Option.Directory => "directory",
        Option.Filters => "filters",
        Option.CurrentFilter => "current_filter",
        Option.Choices => "choices",
        Option.CurrentName => "current_name",
        Option.CurrentFolder => "current_folder",
        Option.CurrentFile => "current_file",
        _ => "files",
    };
}
