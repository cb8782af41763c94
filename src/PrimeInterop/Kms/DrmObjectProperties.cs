using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace PrimeInterop;

/// <summary>
/// One KMS object's properties and their values when read (<c>DRM_IOCTL_MODE_OBJ_GETPROPERTIES</c>), found by name.
/// A file sees the atomic-only properties (<c>FB_ID</c>, <c>CRTC_ID</c>, <c>MODE_ID</c>, …) only once it has
/// <see cref="DrmClientCapability.Atomic"/>.
/// </summary>
public sealed class DrmObjectProperties : IReadOnlyList<DrmPropertyValue>
{
    private readonly DrmPropertyValue[] _values;

    internal DrmObjectProperties(uint objectId, DrmObjectType objectType, DrmPropertyValue[] values)
    {
        ObjectId = objectId;
        ObjectType = objectType;
        _values = values;
    }

    /// <summary>The object's id.</summary>
    public uint ObjectId { get; }

    /// <summary>The object type asked for (<see cref="DrmObjectType.Any"/> if none was).</summary>
    public DrmObjectType ObjectType { get; }

    /// <inheritdoc/>
    public int Count => _values.Length;

    /// <inheritdoc/>
    public DrmPropertyValue this[int index] => _values[index];

    /// <summary>The object's property named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The object has no such property; the message names the object and lists what it has.</exception>
    public DrmProperty GetProperty(string name) => Find(name).Property;

    /// <summary>The value the property named <paramref name="name"/> had when read.</summary>
    /// <exception cref="KeyNotFoundException">The object has no such property; the message names the object and lists what it has.</exception>
    public ulong GetValue(string name) => Find(name).Value;

    /// <summary>Finds the property named <paramref name="name"/>, if the object has it.</summary>
    public bool TryGetProperty(string name, [NotNullWhen(true)] out DrmProperty? property)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (DrmPropertyValue v in _values)
        {
            if (v.Property.Name == name)
            {
                property = v.Property;
                return true;
            }
        }

        property = null;
        return false;
    }

    /// <summary>Whether the object has a property named <paramref name="name"/>.</summary>
    public bool Contains(string name) => TryGetProperty(name, out _);

    /// <inheritdoc/>
    public IEnumerator<DrmPropertyValue> GetEnumerator() => ((IEnumerable<DrmPropertyValue>)_values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{DescribeObject(ObjectType, ObjectId)}: {string.Join(", ", _values.Select(v => v.ToString()))}");

    /// <summary>An object as the kernel's logs name it: <c>[PLANE:31]</c>.</summary>
    internal static string DescribeObject(DrmObjectType type, uint id) => type switch
    {
        DrmObjectType.Any => string.Create(CultureInfo.InvariantCulture, $"[OBJECT:{id}]"),
        DrmObjectType.Framebuffer => string.Create(CultureInfo.InvariantCulture, $"[FB:{id}]"),
        _ => string.Create(CultureInfo.InvariantCulture, $"[{type.ToString().ToUpperInvariant()}:{id}]"),
    };

    private DrmPropertyValue Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (DrmPropertyValue v in _values)
        {
            if (v.Property.Name == name)
            {
                return v;
            }
        }

        throw new KeyNotFoundException($"{DescribeObject(ObjectType, ObjectId)} has no property '{name}'; it has {string.Join(", ", _values.Select(v => v.Property.Name))}." +
            (_values.Any(v => v.Property.Name is "FB_ID" or "CRTC_ID" or "ACTIVE") ? "" : " (Atomic-only properties are listed only after SetClientCapability(DrmClientCapability.Atomic).)"));
    }
}

/// <summary>A property of an object and its value when read.</summary>
/// <param name="Property">The property.</param>
/// <param name="Value">Its value.</param>
public readonly record struct DrmPropertyValue(DrmProperty Property, ulong Value)
{
    /// <inheritdoc/>
    public override string ToString() => Property.Kind == DrmPropertyKind.Enum && Property.NameOf(Value) is string name
        ? $"{Property.Name}={name}"
        : string.Create(CultureInfo.InvariantCulture, $"{Property.Name}={Value}");
}
