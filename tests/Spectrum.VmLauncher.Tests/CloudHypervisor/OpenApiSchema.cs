using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spectrum.VmLauncher.Tests.CloudHypervisor;

/// <summary>
/// Cloud Hypervisor's OpenAPI document (shared/reference/cloud-hypervisor-openapi.yaml, with a
/// vendored copy next to this file for checkouts without the shared folder) and a validator for
/// the schema keywords it uses: $ref, type, format (integer widths), required, properties,
/// additionalProperties, items, enum, minimum, maximum, minLength.
/// <para>
/// Strict on purpose: an object schema that lists properties and says nothing about
/// additionalProperties refuses unknown members. OpenAPI would allow them, but a member the
/// schema does not name is, for a request body, a typo Cloud Hypervisor would reject or ignore.
/// </para>
/// </summary>
internal sealed class OpenApiSchema
{
    private const string SharedPath = "shared/reference/cloud-hypervisor-openapi.yaml";
    private const string VendoredName = "cloud-hypervisor-openapi.yaml";

    private static readonly Lazy<OpenApiSchema> Loaded = new(() => new OpenApiSchema(File.ReadAllText(Locate())));

    private readonly JsonObject root;

    private OpenApiSchema(string yaml) =>
        root = MiniYaml.Parse(yaml)?.AsObject() ?? throw new InvalidDataException("empty OpenAPI document");

    public static OpenApiSchema Instance => Loaded.Value;

    /// <summary>
    /// The schema the tests validate against: the vendored copy, next to the test assembly (the
    /// build copies it there), so that a clone without <c>../shared</c> and a CI build with
    /// mapped source paths test the same document.
    /// </summary>
    public static string Locate()
    {
        var vendored = VendoredCopy();
        return File.Exists(vendored)
            ? vendored
            : throw new FileNotFoundException($"{vendored} is missing; the test project copies CloudHypervisor/{VendoredName} to its output, so rebuild it");
    }

    public static string VendoredCopy() => Path.Combine(AppContext.BaseDirectory, "CloudHypervisor", VendoredName);

    /// <summary>The published reference in <c>../shared</c>, when this checkout sits next to it; else null.</summary>
    public static string? SharedReference()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var shared = Path.Combine(dir.FullName, SharedPath);
                if (File.Exists(shared))
                {
                    return shared;
                }
            }
        }

        return null;
    }

    public JsonObject Root => root;

    public JsonObject Schema(string name) => root["components"]!["schemas"]![name]!.AsObject();

    /// <summary>The operation object of <paramref name="operation"/> (e.g. <c>vm.create</c>), and its method.</summary>
    public (string Method, JsonObject Operation) Operation(string operation)
    {
        var item = root["paths"]![$"/{operation}"]?.AsObject() ?? throw new KeyNotFoundException($"no path /{operation} in the schema");
        var (method, op) = item.Single();
        return (method.ToUpperInvariant(), op!.AsObject());
    }

    public JsonObject? RequestSchema(string operation) =>
        Operation(operation).Operation["requestBody"]?["content"]?["application/json"]?["schema"]?.AsObject();

    public bool RequestBodyRequired(string operation) =>
        Operation(operation).Operation["requestBody"]?["required"]?.GetValue<bool>() ?? false;

    public IReadOnlyList<int> Statuses(string operation) =>
        [.. Operation(operation).Operation["responses"]!.AsObject().Select(r => int.Parse(r.Key, CultureInfo.InvariantCulture)).Order()];

    public JsonObject? ResponseSchema(string operation, int status) =>
        Operation(operation).Operation["responses"]?[status.ToString(CultureInfo.InvariantCulture)]?["content"]?["application/json"]?["schema"]?.AsObject();

    public IReadOnlyList<string> Validate(string json, JsonObject schema)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            return [$"$: not JSON ({e.Message})"];
        }

        var errors = new List<string>();
        Validate(node, schema, "$", errors);
        return errors;
    }

    public IReadOnlyList<string> Validate(string json, string schemaName) => Validate(json, Schema(schemaName));

    private JsonObject Resolve(JsonObject schema)
    {
        while (schema["$ref"] is JsonValue reference)
        {
            var path = reference.GetValue<string>();
            const string Prefix = "#/components/schemas/";
            schema = path.StartsWith(Prefix, StringComparison.Ordinal)
                ? Schema(path[Prefix.Length..])
                : throw new NotSupportedException($"$ref {path}");
        }

        return schema;
    }

    private void Validate(JsonNode? node, JsonObject schema, string at, List<string> errors)
    {
        schema = Resolve(schema);
        var type = schema["type"]?.GetValue<string>();
        if (node is null)
        {
            errors.Add($"{at}: null where {type ?? "a value"} is required");
            return;
        }

        if (schema["enum"] is JsonArray allowed && !allowed.Any(a => JsonNode.DeepEquals(a, node)))
        {
            errors.Add($"{at}: {node.ToJsonString()} is not one of {allowed.ToJsonString()}");
        }

        switch (type)
        {
            case "object":
                ValidateObject(node, schema, at, errors);
                break;
            case "array":
                if (node is not JsonArray array)
                {
                    errors.Add($"{at}: expected an array, got {node.GetValueKind()}");
                    break;
                }

                for (var i = 0; i < array.Count; i++)
                {
                    Validate(array[i], schema["items"]!.AsObject(), $"{at}[{i}]", errors);
                }

                break;
            case "string":
                if (node.GetValueKind() != JsonValueKind.String)
                {
                    errors.Add($"{at}: expected a string, got {node.GetValueKind()}");
                }
                else if (schema["minLength"] is JsonValue min && node.GetValue<string>().Length < min.GetValue<long>())
                {
                    errors.Add($"{at}: shorter than {min}");
                }

                break;
            case "boolean":
                if (node.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    errors.Add($"{at}: expected a boolean, got {node.GetValueKind()}");
                }

                break;
            case "integer":
                ValidateInteger(node, schema, at, errors);
                break;
            case "number":
                if (node.GetValueKind() != JsonValueKind.Number)
                {
                    errors.Add($"{at}: expected a number, got {node.GetValueKind()}");
                }

                break;
            case null:
                break;
            default:
                throw new NotSupportedException($"schema type {type}");
        }
    }

    private void ValidateObject(JsonNode node, JsonObject schema, string at, List<string> errors)
    {
        if (node is not JsonObject obj)
        {
            errors.Add($"{at}: expected an object, got {node.GetValueKind()}");
            return;
        }

        foreach (var required in schema["required"]?.AsArray() ?? [])
        {
            if (!obj.ContainsKey(required!.GetValue<string>()))
            {
                errors.Add($"{at}: required property '{required}' is missing");
            }
        }

        var properties = schema["properties"]?.AsObject();
        var additional = schema["additionalProperties"];
        foreach (var (name, value) in obj)
        {
            if (properties?[name] is JsonObject property)
            {
                Validate(value, property, $"{at}.{name}", errors);
            }
            else if (additional is JsonObject additionalSchema)
            {
                Validate(value, additionalSchema, $"{at}.{name}", errors);
            }
            else if (additional is JsonValue flag && flag.GetValue<bool>())
            {
            }
            else if (properties is not null || additional is not null)
            {
                errors.Add($"{at}: property '{name}' is not in the schema");
            }
        }
    }

    private static void ValidateInteger(JsonNode node, JsonObject schema, string at, List<string> errors)
    {
        if (node.GetValueKind() != JsonValueKind.Number || !long.TryParse(node.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            errors.Add($"{at}: expected an integer, got {node.ToJsonString()}");
            return;
        }

        var (lo, hi) = schema["format"]?.GetValue<string>() switch
        {
            "int8" => (sbyte.MinValue, sbyte.MaxValue),
            "uint8" => (0L, byte.MaxValue),
            "int16" => (short.MinValue, short.MaxValue),
            "uint16" => (0L, ushort.MaxValue),
            "int32" => (int.MinValue, int.MaxValue),
            "uint32" => (0L, uint.MaxValue),
            _ => (long.MinValue, long.MaxValue),
        };
        if (schema["minimum"] is JsonValue min)
        {
            lo = Math.Max(lo, min.GetValue<long>());
        }

        if (schema["maximum"] is JsonValue max)
        {
            hi = Math.Min(hi, max.GetValue<long>());
        }

        if (value < lo || value > hi)
        {
            errors.Add($"{at}: {value} is outside [{lo}, {hi}]");
        }
    }
}
