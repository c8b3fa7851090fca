using System.Text;
using Spectrum.Broker.Grants;
using Spectrum.Broker.Hosting;
using Spectrum.Broker.State;
using Spectrum.Capabilities;
using Spectrum.Policy;

namespace Spectrum.Broker.Portal;

/// <summary>
/// One file-chooser request of one VM, from the guest's options to the guest's answer: makes the
/// options safe for the host dialog, shows it, filters what the user picked through the VM's
/// <c>[portal]</c> policy, grants it, and answers with paths inside the guest's view mount.
/// Which VM asks is given by the channel the request came on, never by the request.
/// </summary>
internal sealed partial class FileChooserService(BrokerServices services, IFileDialog dialog)
{
    /// <summary>Where Spectrum guests mount their view (DESIGN.md "VM launch"); every URI answered points below it.</summary>
    public const string ViewMount = "/run/virtiofs/virtiofs0";

    /// <summary>The longest part of the guest's own title kept after the VM's name, in characters.</summary>
    public const int MaxGuestTitle = 80;

    private static readonly Rights SaveRights = Rights.Read | Rights.Write | Rights.Create;

    /// <summary>The dialog requests go to.</summary>
    public IFileDialog Dialog => dialog;

    /// <summary>Optional timestamps of one request's broker-side steps, for the benchmark.</summary>
    internal sealed class Timings
    {
        public long Received { get; set; }
        public long DialogCalled { get; set; }
        public long DialogAnswered { get; set; }
        public long Granted { get; set; }
        public long Written { get; set; }
    }

    /// <summary>
    /// Answers one request. Never throws for anything the guest or the user did: a refusal, a
    /// cancel, an unreachable dialog are each a response code with one audit record. Cancelling
    /// <paramref name="close"/> (the guest's Close, the VM stopping) closes the host dialog.
    /// </summary>
    public async Task<FileChooserResult> HandleAsync(string vm, FileChooserMethod method, FileChooserOptions options, CancellationToken close, Timings? timings = null)
    {
        var actor = $"vm:{vm}";
        var policy = services.Policy.Current.Vms.TryGetValue(vm, out var vmPolicy) ? vmPolicy.Portal : PortalPolicy.Default;
        var refusal = RefuseBeforeDialog(vm, method, policy);
        if (refusal is not null)
        {
            Audit(actor, AuditActions.Deny, "refused", vm, detail: $"portal {method}: {refusal}");
            return FileChooserResult.Failed;
        }

        var request = new DialogRequest(method, vm, Title(vm, method, options.Title), HostOptions(vm, options));
        DialogAnswer answer;
        try
        {
            if (timings is not null)
            {
                timings.DialogCalled = services.Time.GetTimestamp();
            }

            answer = await dialog.ShowAsync(request, close).ConfigureAwait(false);
            if (timings is not null)
            {
                timings.DialogAnswered = services.Time.GetTimestamp();
            }
        }
        catch (DialogUnavailableException e)
        {
            LogUnavailable(services.Logger, vm, method, dialog.Name, e.Message);
            Audit(actor, AuditActions.Deny, "unavailable", vm, detail: $"{method} via {dialog.Name}: {e.Message}");
            return FileChooserResult.Failed;
        }

        if (answer.Response != PortalResponse.Success)
        {
            var result = answer.Response == PortalResponse.Cancelled ? "cancelled" : close.IsCancellationRequested ? "closed" : "failed";
            Audit(actor, AuditActions.Deny, result, vm, detail: $"{method} via {dialog.Name}: the dialog answered {answer.Response} ({result})");
            return answer.Response == PortalResponse.Cancelled ? FileChooserResult.Cancelled : FileChooserResult.Failed;
        }

        return await GrantPicksAsync(actor, vm, method, options, policy, answer, timings).ConfigureAwait(false);
    }

    /// <summary>Why nothing the user could pick would be granted, or null: then the dialog is shown.</summary>
    private static string? RefuseBeforeDialog(string vm, FileChooserMethod method, PortalPolicy policy)
    {
        if (policy.Allow.Count == 0)
        {
            return $"the policy of {vm} allows the portal nothing; add [portal] allow = [\"Documents/**\"] (for example) to its policy file";
        }

        if (method != FileChooserMethod.OpenFile && (policy.MaxRights & (Rights.Write | Rights.Create)) != (Rights.Write | Rights.Create))
        {
            return $"saving needs write and create, but [portal] max_rights of {vm} is {RightsText.Format(policy.MaxRights)}; raise max_rights to rw to let it save";
        }

        return null;
    }

    private async Task<FileChooserResult> GrantPicksAsync(string actor, string vm, FileChooserMethod method, FileChooserOptions options, PortalPolicy policy, DialogAnswer answer, Timings? timings)
    {
        var picks = new List<(TreePath Path, bool Directory)>();
        var refused = new List<(string? Path, string Why)>();
        foreach (var hostPath in answer.Paths)
        {
            if (!TryTreePath(hostPath, out var path, out var why))
            {
                refused.Add((null, why));
                continue;
            }

            // The kind as the grant will see it (openat2 below the tree fd, no symlinks), not a path-string stat.
            var directory = method == FileChooserMethod.OpenFile && IsDirectory(path);
            if (!(directory ? policy.PermitsSubtree(path) : policy.Permits(path)))
            {
                refused.Add((path.Value, Explain(policy, path, directory)));
                continue;
            }

            picks.Add((path, directory));
        }

        if (picks.Count == 0 && refused.Count == 0)
        {
            refused.Add((null, "the dialog answered success without a path"));
        }

        if (refused.Count > 0)
        {
            // Never silently narrowed: one refused pick refuses the answer, and says which and why.
            foreach (var (path, why) in refused)
            {
                Audit(actor, AuditActions.Deny, "refused", vm, path, detail: $"portal {method} via {dialog.Name}: {why}");
            }

            return FileChooserResult.Failed;
        }

        var rights = method == FileChooserMethod.OpenFile
            ? (answer.Writable && policy.MaxRights.HasFlag(Rights.Write) ? Rights.ReadWrite : Rights.ReadOnly) & policy.MaxRights
            : SaveRights & policy.MaxRights;
        if (rights == Rights.None)
        {
            Audit(actor, AuditActions.Deny, "refused", vm, picks[0].Path.Value, detail: $"portal {method}: [portal] max_rights {RightsText.Format(policy.MaxRights)} leaves no right to grant; give it read at least");
            return FileChooserResult.Failed;
        }

        var persistence = policy.Persistence;
        var specs = picks.Select(p => new GrantSpec
        {
            Vm = vm,
            Path = p.Path.Value,
            Rights = RightsText.Format(rights),
            Session = persistence.Kind == PortalPersistenceKind.Session,
            Expires = persistence.Kind == PortalPersistenceKind.Timed ? DurationText.Format(persistence.Duration!.Value) : null,
            Source = GrantSources.Portal,
            SourceDetail = $"{method} via {dialog.Name}",
            MayNotExist = method != FileChooserMethod.OpenFile,
        }).ToList();

        IReadOnlyList<GrantRow> rows;
        try
        {
            rows = await services.Grants.GrantAllAsync(actor, specs).ConfigureAwait(false);
        }
        catch (BrokerRefusal e)
        {
            Audit(actor, AuditActions.Deny, "refused", vm, picks[0].Path.Value, detail: $"portal {method} via {dialog.Name}: {e.Message}");
            return FileChooserResult.Failed;
        }

        if (rows.Any(r => r.ExpiresAt is not null))
        {
            services.SignalExpiryChanged();
        }

        if (timings is not null)
        {
            timings.Granted = services.Time.GetTimestamp();
        }

        // The grants are in the view now: the store raises GrantsChanged on the committing
        // thread, and the view installs its new table before that returns.
        return new FileChooserResult(
            PortalResponse.Success,
            rows.Select(r => ViewUri(r.TreePath)).ToList(),
            rights.HasFlag(Rights.Write),
            answer.Choices,
            answer.CurrentFilter);
    }

    private static string Explain(PortalPolicy policy, TreePath path, bool directory)
    {
        if (policy.Deny.FirstOrDefault(g => g.IsMatch(path)) is { } deny)
        {
            return $"'{path}' matches [portal] deny \"{deny}\"";
        }

        if (!policy.Allow.Any(g => g.IsMatch(path)))
        {
            return $"'{path}' matches no [portal] allow glob ({string.Join(", ", policy.Allow.Select(g => $"\"{g}\""))})";
        }

        return directory && policy.Deny.FirstOrDefault(g => g.CouldMatchAtOrBelow(path)) is { } below
            ? $"the directory '{path}' holds paths that match [portal] deny \"{below}\"; pick a folder below it"
            : $"'{path}' is not permitted by [portal]";
    }

    /// <summary>The dialog's title: the VM's name first, so the user knows who asks, then the guest's own words, cut and cleaned.</summary>
    internal static string Title(string vm, FileChooserMethod method, string? guestTitle)
    {
        var what = method switch
        {
            FileChooserMethod.OpenFile => "open a file",
            FileChooserMethod.SaveFile => "save a file",
            _ => "save files",
        };
        var title = $"{vm} wants to {what}";
        var clean = Clean(guestTitle);
        return clean.Length == 0 ? title : $"{title}: {clean}";
    }

    private static string Clean(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        var b = new StringBuilder(Math.Min(text.Length, MaxGuestTitle));
        foreach (var rune in text.EnumerateRunes())
        {
            if (b.Length >= MaxGuestTitle)
            {
                b.Append('…');
                break;
            }

            // Control, format (bidi overrides) and line breaks could fake a second title line.
            var category = Rune.GetUnicodeCategory(rune);
            b.Append(category is System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
                or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator
                ? " " : rune.ToString());
        }

        return b.ToString().Trim();
    }

    /// <summary>
    /// The options as the host dialog gets them: the guest's folder and file (view paths) become
    /// host paths only when the VM can see them in its view; anything else is dropped, so a
    /// guest cannot make the dialog open on, or reveal, a place it was never shown.
    /// </summary>
    private FileChooserOptions HostOptions(string vm, FileChooserOptions options)
    {
        var visible = VisibleTo(vm);
        return options with
        {
            Title = null,
            CurrentFolder = HostPathIfVisible(options.CurrentFolder, visible),
            CurrentFile = HostPathIfVisible(options.CurrentFile, visible),
            CurrentName = options.CurrentName is { } name && IsPlainName(name) ? name : null,
            Files = options.Files.Where(IsPlainName).ToList(),
        };
    }

    private static bool IsPlainName(string name) =>
        name.Length > 0 && name is not "." and not ".." && !name.Contains('/', StringComparison.Ordinal) && !name.Contains('\0', StringComparison.Ordinal)
        && Encoding.UTF8.GetByteCount(name) <= TreePath.NameMax;

    /// <summary>True for the paths the VM's view shows: a live grant covers them, or they lead to one.</summary>
    private Func<TreePath, bool> VisibleTo(string vm)
    {
        var now = services.Store.NowMs;
        var live = services.Grants.List(vm, null, all: false).Where(g => g.IsLiveAt(now)).ToList();
        return path => path.IsRoot || live.Exists(g => g.Covers(path) || g.TreePath.IsWithin(path));
    }

    private string? HostPathIfVisible(string? viewPath, Func<TreePath, bool> visible)
    {
        if (viewPath is null || !TryViewTreePath(viewPath, out var path) || !visible(path))
        {
            return null;
        }

        return path.IsRoot ? services.Tree.Path : Path.Combine(services.Tree.Path, path.Value);
    }

    /// <summary>A path inside the guest's view mount as a tree path; false for anything else.</summary>
    internal static bool TryViewTreePath(string viewPath, out TreePath path)
    {
        path = TreePath.Root;
        var trimmed = viewPath.TrimEnd('/');
        if (trimmed == ViewMount)
        {
            return true;
        }

        if (!trimmed.StartsWith(ViewMount + "/", StringComparison.Ordinal) || !TreePath.TryParse(trimmed[(ViewMount.Length + 1)..], out var parsed, out _))
        {
            return false;
        }

        path = parsed.Value;
        return true;
    }

    /// <summary>A host path the dialog answered as a tree path, or why it cannot be one.</summary>
    private bool TryTreePath(string hostPath, out TreePath path, out string why)
    {
        path = TreePath.Root;
        why = "";
        var tree = services.Tree.Path.TrimEnd('/');
        if (!Path.IsPathFullyQualified(hostPath))
        {
            why = "the dialog answered a path that is not absolute";
            return false;
        }

        var full = Path.GetFullPath(hostPath).TrimEnd('/');
        if (full == tree)
        {
            return true;
        }

        if (!full.StartsWith(tree + "/", StringComparison.Ordinal))
        {
            why = $"the pick is outside the tree {tree}; only files in the tree can be shared";
            return false;
        }

        if (!TreePath.TryParse(full[(tree.Length + 1)..], out var parsed, out var error))
        {
            why = $"the pick cannot be granted: {error}";
            return false;
        }

        path = parsed.Value;
        return true;
    }

    /// <summary><c>file://</c> + the path in the guest's view mount, each component percent-encoded (RFC 8089, RFC 3986).</summary>
    internal static string ViewUri(TreePath path) =>
        path.IsRoot ? $"file://{ViewMount}" : $"file://{ViewMount}/{string.Join('/', path.Value.Split('/').Select(Uri.EscapeDataString))}";

    /// <summary>True when <paramref name="path"/> resolves to a directory in the tree; anything unresolvable is left to the grant to refuse.</summary>
    private bool IsDirectory(TreePath path)
    {
        try
        {
            return services.Tree.Resolve(path).Kind == GrantKinds.Directory;
        }
        catch (BrokerRefusal)
        {
            return false;
        }
    }

    private void Audit(string actor, string action, string result, string vm, string? path = null, string? detail = null) =>
        services.Store.Write(tx => tx.Audit(actor, action, result, vm, path, detail: detail));

    [LoggerMessage(Level = LogLevel.Warning, Message = "portal: VM {Vm} asked for {Method}, but the host dialog {Dialog} is unreachable: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string vm, FileChooserMethod method, string dialog, string reason);
}
