using System.Text.Json;

namespace Spectrum.Tests.Shared;

// Shared by the CLI test projects (linked into each by its csproj).

/// <summary>
/// The <c>--json</c> shape of a document: its property names in document order, recursively.
/// Nested objects show as <c>parent.child</c>, array elements as <c>name[].child</c>, a top-level
/// array as <c>[]</c> followed by its element's shape.
/// </summary>
public static class JsonShape
{
    /// <summary>Property names in document order, recursively; every element of an array must have the same shape.</summary>
    public static List<string> Of(JsonElement element, string prefix = "")
    {
        var names = new List<string>();
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    var name = prefix.Length == 0 ? property.Name : $"{prefix}.{property.Name}";
                    names.Add(name);
                    names.AddRange(Of(property.Value, name));
                }

                break;
            case JsonValueKind.Array:
                List<string>? first = null;
                foreach (var item in element.EnumerateArray())
                {
                    var shape = Of(item, prefix + "[]");
                    if (first is null)
                    {
                        first = shape;
                    }
                    else
                    {
                        Assert.Equal(first, shape);
                    }
                }

                if (prefix.Length == 0)
                {
                    names.Add("[]");
                }

                names.AddRange(first ?? []);
                break;
        }

        return names;
    }

    /// <summary>The golden of an object nested under <paramref name="parent"/>.</summary>
    public static string[] Nest(string parent, string[] children) => [.. children.Select(c => $"{parent}.{c}")];

    /// <summary>The golden of a top-level array of <paramref name="element"/>.</summary>
    public static string[] Each(string[] element) => ["[]", .. Nest("[]", element)];

    /// <summary>Asserts that <paramref name="json"/> has exactly the <paramref name="golden"/> shape.</summary>
    public static void AssertShape(string[] golden, string json)
    {
        using var document = JsonDocument.Parse(json);
        Assert.Equal(golden, Of(document.RootElement));
    }
}

/// <summary>
/// The golden shapes both CLIs print (a grant in <c>spectrum-vm open</c>, a VM in both
/// <c>vm list</c>s). A shape may only grow by new keys, together with the README.
/// </summary>
public static class SharedGoldens
{
    public static readonly string[] Identity = ["dev", "ino", "handle"];

    public static readonly string[] Grant =
    [
        "id", "vm", "path", "kind", "rights", "persistence", "source", "source_detail", "parent",
        "created_at", "expires_at", "state", "ended_at", "identity", .. JsonShape.Nest("identity", Identity),
    ];

    /// <summary>A VM; the keys from <c>bootable</c> on came with <c>spectrum-vm</c>.</summary>
    public static readonly string[] Vm =
    [
        "name", "declared", "policy_file", "grants",
        "bootable", "vmm", "state", "pid", "virtiofsd_pid", "started_at", "uptime_seconds", "last_exit",
    ];
}
