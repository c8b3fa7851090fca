using System.Collections;

namespace Spectrum.Policy;

/// <summary>
/// A read-only list with value equality, so that records holding lists compare by content
/// (loading the same files twice gives equal <see cref="PolicySet"/>s).
/// </summary>
internal sealed class EquatableList<T>(IEnumerable<T> items) : IReadOnlyList<T>, IEquatable<EquatableList<T>>
{
    private readonly T[] items = [.. items];

    public static EquatableList<T> Empty { get; } = new([]);

    public int Count => items.Length;

    public T this[int index] => items[index];

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => items.GetEnumerator();

    public bool Equals(EquatableList<T>? other) =>
        other is not null && items.AsSpan().SequenceEqual(other.items, EqualityComparer<T>.Default);

    public override bool Equals(object? obj) => Equals(obj as EquatableList<T>);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in items)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    public override string ToString() => "[" + string.Join(", ", items) + "]";
}

/// <summary>A read-only dictionary sorted by ordinal key, with value equality.</summary>
internal sealed class EquatableSortedMap<TValue> : IReadOnlyDictionary<string, TValue>, IEquatable<EquatableSortedMap<TValue>>
{
    private readonly SortedDictionary<string, TValue> map;

    public EquatableSortedMap(IEnumerable<KeyValuePair<string, TValue>> entries)
    {
        map = new SortedDictionary<string, TValue>(StringComparer.Ordinal);
        foreach (var (key, value) in entries)
        {
            map.Add(key, value);
        }
    }

    public TValue this[string key] => map[key];

    public IEnumerable<string> Keys => map.Keys;

    public IEnumerable<TValue> Values => map.Values;

    public int Count => map.Count;

    public bool ContainsKey(string key) => map.ContainsKey(key);

    public bool TryGetValue(string key, out TValue value) => map.TryGetValue(key, out value!);

    public IEnumerator<KeyValuePair<string, TValue>> GetEnumerator() => map.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => map.GetEnumerator();

    public bool Equals(EquatableSortedMap<TValue>? other) =>
        other is not null
        && other.Count == Count
        && map.SequenceEqual(other.map);

    public override bool Equals(object? obj) => Equals(obj as EquatableSortedMap<TValue>);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var (key, value) in map)
        {
            hash.Add(key, StringComparer.Ordinal);
            hash.Add(value);
        }

        return hash.ToHashCode();
    }
}
