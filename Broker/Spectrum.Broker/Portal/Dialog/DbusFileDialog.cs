using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Tmds.DBus.Protocol;

namespace Spectrum.Broker.Portal.Dialog;

/// <summary>
/// The host's own file dialog: <c>org.freedesktop.impl.portal.FileChooser</c> of a portal backend
/// (xdg-desktop-portal-gtk by default) on the host's session bus, called the way
/// xdg-desktop-portal itself calls it, so the backend needs nothing from us but the bus.
/// </summary>
/// <remarks>
/// One connection serves every dialog. It is opened on the first call, and opened again on the
/// next call after it dropped. Calls are asynchronous on it, so a dialog left open for an hour
/// blocks nothing else. Closing a request (<see cref="IFileDialog.ShowAsync"/>'s token) calls
/// <c>org.freedesktop.impl.portal.Request.Close</c> on the request's handle, which the backend
/// exports while its dialog is up.
/// </remarks>
public sealed partial class DbusFileDialog : IFileDialog, IDisposable
{
    /// <summary>The backend used when broker.toml names none.</summary>
    public const string DefaultBackend = "org.freedesktop.impl.portal.desktop.gtk";

    /// <summary>Where every portal backend serves its interfaces.</summary>
    public const string DesktopPath = "/org/freedesktop/portal/desktop";

    private const string FileChooserInterface = "org.freedesktop.impl.portal.FileChooser";
    private const string RequestInterface = "org.freedesktop.impl.portal.Request";

    private readonly string? address;
    private readonly ILogger logger;
    private readonly TimeSpan closeTimeout;
    private readonly SemaphoreSlim connectLock = new(1, 1);
    private DBusConnection? connection;
    private Task? disconnected;
    private string requestPrefix = "";
    private long requestCount;
    private bool disposed;

    /// <param name="busAddress">
    /// A D-Bus address (<c>unix:path=/run/user/1000/bus</c>); null means <c>DBUS_SESSION_BUS_ADDRESS</c>,
    /// read when the first dialog is shown.
    /// </param>
    /// <param name="backend">The backend's bus name; null means <see cref="DefaultBackend"/>.</param>
    /// <param name="logger">Where failures that still answer the guest are logged.</param>
    /// <param name="closeTimeout">
    /// How long a close waits for the backend to confirm before answering anyway. Default: 2 s
    /// (xdg-desktop-portal-gtk answers a Close in milliseconds; a wedged backend must not hold the guest).
    /// </param>
    public DbusFileDialog(string? busAddress = null, string? backend = null, ILogger? logger = null, TimeSpan? closeTimeout = null)
    {
        address = busAddress;
        Backend = backend ?? DefaultBackend;
        this.logger = logger ?? NullLogger.Instance;
        this.closeTimeout = closeTimeout ?? TimeSpan.FromSeconds(2);
    }

    /// <summary>The backend's bus name.</summary>
    public string Backend { get; }

    /// <inheritdoc/>
    public string Name => Backend;

    /// <inheritdoc/>
    public async Task<DialogAnswer> ShowAsync(DialogRequest request, CancellationToken close)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(disposed, this);
        close.ThrowIfCancellationRequested();

        var bus = await ConnectAsync().ConfigureAwait(false);
        var handle = requestPrefix + Interlocked.Increment(ref requestCount).ToString(CultureInfo.InvariantCulture);
        var call = bus.CallMethodAsync(CreateCall(bus, request, handle), static (message, _) => ReadAnswer(message), null);

        var closeRequested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (close.Register(static s => ((TaskCompletionSource)s!).TrySetResult(), closeRequested))
        {
            if (await Task.WhenAny(call, closeRequested.Task).ConfigureAwait(false) == call)
            {
                return Answer(await Outcome(call).ConfigureAwait(false), request);
            }
        }

        return await CloseAsync(bus, handle, call, request).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        connection?.Dispose();
        connectLock.Dispose();
    }

    /// <summary>
    /// Decodes a <c>file://</c> URI from the backend into an absolute host path: an empty or
    /// <c>localhost</c> authority, strict percent-decoding into UTF-8, no NUL, no <c>.</c> or
    /// <c>..</c> segment (the broker matches grants on the path as written, so it must be the
    /// canonical spelling). Null for anything else.
    /// </summary>
    public static string? PathFromUri(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        string rest;
        if (uri.StartsWith("file:///", StringComparison.Ordinal))
        {
            rest = uri["file://".Length..];
        }
        else if (uri.StartsWith("file://localhost/", StringComparison.Ordinal))
        {
            rest = uri["file://localhost".Length..];
        }
        else
        {
            return null;
        }

        if (rest.Contains('?', StringComparison.Ordinal) || rest.Contains('#', StringComparison.Ordinal))
        {
            return null;
        }

        var bytes = new List<byte>(rest.Length);
        for (var i = 0; i < rest.Length; i++)
        {
            var c = rest[i];
            if (c == '%')
            {
                if (i + 2 >= rest.Length || !byte.TryParse(rest.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                {
                    return null;
                }

                bytes.Add(b);
                i += 2;
            }
            else if (c is > (char)0x20 and < (char)0x7f)
            {
                bytes.Add((byte)c);
            }
            else
            {
                // GLib escapes everything outside printable ASCII; a raw one means a malformed URI.
                return null;
            }
        }

        string path;
        try
        {
            path = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            return null;
        }

        if (path.Length == 0 || path[0] != '/' || path.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment is "." or "..")
            {
                return null;
            }
        }

        return path.Length > 1 ? path.TrimEnd('/') : path;
    }

    private async Task<DialogAnswer> CloseAsync(DBusConnection bus, string handle, Task<RawAnswer> call, DialogRequest request)
    {
        using var deadline = new CancellationTokenSource(closeTimeout);
        try
        {
            await bus.CallMethodAsync(CreateClose(bus, handle)).WaitAsync(deadline.Token).ConfigureAwait(false);
            await call.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            LogCloseTimedOut(logger, request.Vm, Backend, closeTimeout);
        }
        catch (DBusErrorReplyException e)
        {
            // UnknownObject: the dialog answered in the meantime; the guest asked to close, so it is closed.
            LogCloseFailed(logger, request.Vm, Backend, e.ErrorName, e.ErrorMessage);
        }
        catch (DBusConnectionException)
        {
            // The bus went away, and the dialog with it.
        }

        _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return DialogAnswer.Closed;
    }

    private async Task<RawAnswer> Outcome(Task<RawAnswer> call)
    {
        try
        {
            return await call.ConfigureAwait(false);
        }
        catch (DBusErrorReplyException e)
        {
            // Anything but "no such backend" is the backend failing this one request (InvalidArgs, Failed).
            return Unavailable(e) is { } unavailable ? throw unavailable : RawAnswer.Bad(e.ErrorName + ": " + e.ErrorMessage);
        }
        catch (DBusConnectionException e)
        {
            throw new DialogUnavailableException(
                $"the session bus connection closed while {Backend} showed a dialog ({e.Message}); the next request reconnects", e);
        }
    }

    private DialogAnswer Answer(RawAnswer raw, DialogRequest request)
    {
        if (raw.Error is { } error)
        {
            LogBadAnswer(logger, request.Vm, Backend, error);
            return DialogAnswer.Closed;
        }

        if (raw.Response != PortalResponse.Success)
        {
            return raw.Response == PortalResponse.Cancelled ? DialogAnswer.Cancelled : DialogAnswer.Closed;
        }

        var paths = new List<string>(raw.Uris.Count);
        foreach (var uri in raw.Uris)
        {
            if (PathFromUri(uri) is not { } path)
            {
                LogBadAnswer(logger, request.Vm, Backend, $"not an absolute file:// URI: '{uri}'");
                return DialogAnswer.Closed;
            }

            paths.Add(path);
        }

        if (paths.Count == 0)
        {
            LogBadAnswer(logger, request.Vm, Backend, "success without a URI");
            return DialogAnswer.Closed;
        }

        return new DialogAnswer(PortalResponse.Success, paths, raw.Writable, raw.Choices, raw.CurrentFilter);
    }

    /// <summary>
    /// One bare round trip to the backend (<c>org.freedesktop.DBus.Peer.Ping</c> on its desktop
    /// object, answered by the backend process itself): the portal benchmark's reference.
    /// </summary>
    internal async Task PingAsync()
    {
        var bus = await ConnectAsync().ConfigureAwait(false);
        var writer = bus.GetMessageWriter();
        MessageBuffer message;
        try
        {
            writer.WriteMethodCallHeader(destination: Backend, path: DesktopPath, @interface: "org.freedesktop.DBus.Peer", member: "Ping");
            message = writer.CreateMessage();
        }
        finally
        {
            writer.Dispose();
        }

        await bus.CallMethodAsync(message).ConfigureAwait(false);
    }

    private async Task<DBusConnection> ConnectAsync()
    {
        await connectLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (connection is not null && disconnected is { IsCompleted: false })
            {
                return connection;
            }

            connection?.Dispose();
            connection = null;

            var target = address ?? Environment.GetEnvironmentVariable("DBUS_SESSION_BUS_ADDRESS");
            if (string.IsNullOrEmpty(target))
            {
                throw new DialogUnavailableException("no session bus: set [portal] bus in broker.toml or DBUS_SESSION_BUS_ADDRESS");
            }

            var bus = new DBusConnection(new DBusConnectionOptions(target) { AutoConnect = false });
            try
            {
                await bus.ConnectAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is DBusConnectionException or IOException or System.Net.Sockets.SocketException or ArgumentException or NotSupportedException)
            {
                bus.Dispose();
                throw new DialogUnavailableException(
                    $"cannot connect to the session bus at '{target}' ({e.Message}): set [portal] bus in broker.toml or DBUS_SESSION_BUS_ADDRESS to a running session bus", e);
            }

            // The handle is ours to choose; the frontend spells it request/SENDER/TOKEN with the
            // sender's unique name, which keeps two brokers on one bus from colliding in the backend.
            requestPrefix = "/org/freedesktop/portal/desktop/request/spectrum_" +
                (bus.UniqueName ?? ":0").TrimStart(':').Replace('.', '_') + "/r";
            disconnected = bus.DisconnectedAsync();
            connection = bus;
            return bus;
        }
        finally
        {
            connectLock.Release();
        }
    }

    private DialogUnavailableException? Unavailable(DBusErrorReplyException e) => e.ErrorName switch
    {
        "org.freedesktop.DBus.Error.ServiceUnknown" or "org.freedesktop.DBus.Error.NameHasNoOwner" => new DialogUnavailableException(
            $"no file dialog on the session bus: nothing owns or can start {Backend} ({e.ErrorName}): install xdg-desktop-portal-gtk, or set [portal] backend or [portal] command in broker.toml", e),
        "org.freedesktop.DBus.Error.UnknownMethod" or "org.freedesktop.DBus.Error.UnknownObject" or "org.freedesktop.DBus.Error.UnknownInterface" => new DialogUnavailableException(
            $"{Backend} does not serve {FileChooserInterface} at {DesktopPath} ({e.ErrorName}): set [portal] backend in broker.toml to a file-chooser backend", e),
        _ when e.ErrorName.StartsWith("org.freedesktop.DBus.Error.Spawn.", StringComparison.Ordinal) => new DialogUnavailableException(
            $"the session bus could not start {Backend} ({e.ErrorName}: {e.ErrorMessage}): make sure it can reach the display (DISPLAY or WAYLAND_DISPLAY in the bus's environment), or set [portal] command in broker.toml", e),
        _ => null,
    };

    private MessageBuffer CreateCall(DBusConnection bus, DialogRequest request, string handle)
    {
        var writer = bus.GetMessageWriter();
        try
        {
            writer.WriteMethodCallHeader(
                destination: Backend,
                path: DesktopPath,
                @interface: FileChooserInterface,
                member: request.Method.ToString(),
                signature: "osssa{sv}");
            writer.WriteObjectPath(handle);
            writer.WriteString(""); // app_id: the broker is a host service, not a sandboxed app
            writer.WriteString(""); // parent_window: the requesting window lives in the VM
            writer.WriteString(request.Title);
            WriteOptions(ref writer, request.Method, request.Options);
            return writer.CreateMessage();
        }
        finally
        {
            writer.Dispose();
        }
    }

    private static void WriteOptions(ref MessageWriter writer, FileChooserMethod method, FileChooserOptions options)
    {
        var dict = writer.WriteDictionaryStart();
        if (options.AcceptLabel is { } acceptLabel)
        {
            Entry(ref writer, "accept_label", "s");
            writer.WriteString(acceptLabel);
        }

        if (options.Modal is { } modal)
        {
            Entry(ref writer, "modal", "b");
            writer.WriteBool(modal);
        }

        if (method == FileChooserMethod.OpenFile)
        {
            if (options.Multiple is { } multiple)
            {
                Entry(ref writer, "multiple", "b");
                writer.WriteBool(multiple);
            }

            if (options.Directory is { } directory)
            {
                Entry(ref writer, "directory", "b");
                writer.WriteBool(directory);
            }
        }

        if (options.Filters.Count > 0)
        {
            Entry(ref writer, "filters", "a(sa(us))");
            var filters = writer.WriteArrayStart(DBusType.Struct);
            foreach (var filter in options.Filters)
            {
                WriteFilter(ref writer, filter);
            }

            writer.WriteArrayEnd(filters);
        }

        if (options.CurrentFilter is { } currentFilter)
        {
            Entry(ref writer, "current_filter", "(sa(us))");
            WriteFilter(ref writer, currentFilter);
        }

        if (options.Choices.Count > 0)
        {
            Entry(ref writer, "choices", "a(ssa(ss)s)");
            var choices = writer.WriteArrayStart(DBusType.Struct);
            foreach (var choice in options.Choices)
            {
                writer.WriteStructureStart();
                writer.WriteString(choice.Id);
                writer.WriteString(choice.Label);
                var items = writer.WriteArrayStart(DBusType.Struct);
                foreach (var item in choice.Options)
                {
                    writer.WriteStructureStart();
                    writer.WriteString(item.Id);
                    writer.WriteString(item.Label);
                }

                writer.WriteArrayEnd(items);
                writer.WriteString(choice.Selected);
            }

            writer.WriteArrayEnd(choices);
        }

        if (method == FileChooserMethod.SaveFile && options.CurrentName is { } currentName)
        {
            Entry(ref writer, "current_name", "s");
            writer.WriteString(currentName);
        }

        if (options.CurrentFolder is { } currentFolder)
        {
            Entry(ref writer, "current_folder", "ay");
            writer.WriteArray(NulTerminated(currentFolder));
        }

        if (method == FileChooserMethod.SaveFile && options.CurrentFile is { } currentFile)
        {
            Entry(ref writer, "current_file", "ay");
            writer.WriteArray(NulTerminated(currentFile));
        }

        if (method == FileChooserMethod.SaveFiles && options.Files.Count > 0)
        {
            Entry(ref writer, "files", "aay");
            var files = writer.WriteArrayStart(DBusType.Array);
            foreach (var file in options.Files)
            {
                writer.WriteArray(NulTerminated(file));
            }

            writer.WriteArrayEnd(files);
        }

        writer.WriteDictionaryEnd(dict);
    }

    private static void Entry(ref MessageWriter writer, string key, string signature)
    {
        writer.WriteDictionaryEntryStart();
        writer.WriteString(key);
        writer.WriteSignature(signature);
    }

    private static void WriteFilter(ref MessageWriter writer, FileFilter filter)
    {
        writer.WriteStructureStart();
        writer.WriteString(filter.Name);
        var rules = writer.WriteArrayStart(DBusType.Struct);
        foreach (var rule in filter.Rules)
        {
            writer.WriteStructureStart();
            writer.WriteUInt32(rule.Kind);
            writer.WriteString(rule.Pattern);
        }

        writer.WriteArrayEnd(rules);
    }

    /// <summary>The portal's byte-string paths end in a NUL (GLib's <c>g_variant_new_bytestring</c>).</summary>
    private static byte[] NulTerminated(string path)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(path) + 1];
        Encoding.UTF8.GetBytes(path, bytes);
        return bytes;
    }

    private MessageBuffer CreateClose(DBusConnection bus, string handle)
    {
        using var writer = bus.GetMessageWriter();
        writer.WriteMethodCallHeader(destination: Backend, path: handle, @interface: RequestInterface, member: "Close");
        return writer.CreateMessage();
    }

    /// <summary>Reads <c>(u response, a{sv} results)</c>; a malformed answer becomes an error, not an exception on the reader.</summary>
    private static RawAnswer ReadAnswer(Message message)
    {
        if (message.SignatureAsString != "ua{sv}")
        {
            return RawAnswer.Bad($"reply signature '{message.SignatureAsString}' instead of 'ua{{sv}}'");
        }

        var reader = message.GetBodyReader();
        var response = reader.ReadUInt32();
        var results = reader.ReadDictionaryOfStringToVariantValue();
        try
        {
            IReadOnlyList<string> uris = results.TryGetValue("uris", out var u) ? u.GetArray<string>() : [];
            var writable = results.TryGetValue("writable", out var w) && w.GetBool();
            var choices = new List<ChoiceAnswer>();
            if (results.TryGetValue("choices", out var c))
            {
                for (var i = 0; i < c.Count; i++)
                {
                    var item = c.GetItem(i);
                    choices.Add(new ChoiceAnswer(item.GetItem(0).GetString(), item.GetItem(1).GetString()));
                }
            }

            var currentFilter = results.TryGetValue("current_filter", out var f) ? ReadFilter(f) : null;
            return new RawAnswer(response, uris, writable, choices, currentFilter, null);
        }
        catch (InvalidOperationException e)
        {
            // VariantValue throws this when a result has another type than the interface says.
            return RawAnswer.Bad("malformed results: " + e.Message);
        }
    }

    private static FileFilter ReadFilter(VariantValue value)
    {
        var rules = value.GetItem(1);
        var list = new List<FilterRule>(rules.Count);
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules.GetItem(i);
            list.Add(new FilterRule(rule.GetItem(0).GetUInt32(), rule.GetItem(1).GetString()));
        }

        return new FileFilter(value.GetItem(0).GetString(), list);
    }

    private sealed record RawAnswer(
        uint Response,
        IReadOnlyList<string> Uris,
        bool Writable,
        IReadOnlyList<ChoiceAnswer> Choices,
        FileFilter? CurrentFilter,
        string? Error)
    {
        public static RawAnswer Bad(string error) => new(PortalResponse.Other, [], false, [], null, error);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The file dialog for VM {Vm} ({Backend}) did not confirm the close within {Timeout}; answered closed anyway")]
    private static partial void LogCloseTimedOut(ILogger logger, string vm, string backend, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the file dialog for VM {Vm} ({Backend}): {Error}: {Detail}")]
    private static partial void LogCloseFailed(ILogger logger, string vm, string backend, string error, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The file dialog for VM {Vm} ({Backend}) answered badly, answered as failed: {Error}")]
    private static partial void LogBadAnswer(ILogger logger, string vm, string backend, string error);
}
