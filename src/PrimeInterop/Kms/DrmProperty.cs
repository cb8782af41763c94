using System.Globalization;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A KMS property's description (<c>DRM_IOCTL_MODE_GETPROPERTY</c>): its name, kind, and its range, object type or
/// named values. Property ids are the device's, shared by every object that has the property; an object's current
/// value comes with <see cref="DrmDevice.GetProperties"/>.
/// </summary>
public sealed class DrmProperty
{
    internal DrmProperty(uint id, string name, uint flags, ulong[] values, (ulong Value, string Name)[] enums)
    {
        Id = id;
        Name = name;
        Flags = flags;
        Values = Array.AsReadOnly(values);
        Enums = Array.AsReadOnly(enums.Select(e => new DrmPropertyEnum(e.Name, e.Value)).ToArray());
        Kind = (flags & DrmModeProperty.DRM_MODE_PROP_EXTENDED_TYPE) switch
        {
            DrmModeProperty.DRM_MODE_PROP_OBJECT => DrmPropertyKind.ObjectId,
            DrmModeProperty.DRM_MODE_PROP_SIGNED_RANGE => DrmPropertyKind.SignedRange,
            _ when (flags & DrmModeProperty.DRM_MODE_PROP_RANGE) != 0 => DrmPropertyKind.Range,
            _ when (flags & DrmModeProperty.DRM_MODE_PROP_ENUM) != 0 => DrmPropertyKind.Enum,
            _ when (flags & DrmModeProperty.DRM_MODE_PROP_BLOB) != 0 => DrmPropertyKind.Blob,
            _ when (flags & DrmModeProperty.DRM_MODE_PROP_BITMASK) != 0 => DrmPropertyKind.Bitmask,
            _ => DrmPropertyKind.Unknown,
        };
    }

    /// <summary>The property's id on its device.</summary>
    public uint Id { get; }

    /// <summary>Its name, such as <c>FB_ID</c> or <c>rotation</c>.</summary>
    public string Name { get; }

    /// <summary>The kernel's <c>DRM_MODE_PROP_*</c> flags.</summary>
    public uint Flags { get; }

    /// <summary>What kind of values it takes.</summary>
    public DrmPropertyKind Kind { get; }

    /// <summary>True when only the kernel sets it (<c>DRM_MODE_PROP_IMMUTABLE</c>): plane <c>type</c>, <c>IN_FORMATS</c>, ….</summary>
    public bool IsImmutable => (Flags & DrmModeProperty.DRM_MODE_PROP_IMMUTABLE) != 0;

    /// <summary>True when only atomic clients see and set it (<c>DRM_MODE_PROP_ATOMIC</c>).</summary>
    public bool IsAtomic => (Flags & DrmModeProperty.DRM_MODE_PROP_ATOMIC) != 0;

    /// <summary>
    /// The kernel's values list: a range's minimum and maximum (a signed range's as two's complement), an object
    /// property's <see cref="DrmObjectType"/>, an enum's or bitmask's values; empty for a blob.
    /// </summary>
    public IReadOnlyList<ulong> Values { get; }

    /// <summary>An enum's or bitmask's named values (for a bitmask, each value is a bit number).</summary>
    public IReadOnlyList<DrmPropertyEnum> Enums { get; }

    /// <summary>A range's (unsigned) bounds.</summary>
    /// <exception cref="InvalidOperationException">The property is not a <see cref="DrmPropertyKind.Range"/>.</exception>
    public (ulong Minimum, ulong Maximum) Range => Kind == DrmPropertyKind.Range && Values.Count == 2
        ? (Values[0], Values[1])
        : throw new InvalidOperationException($"{this} is not a range property.");

    /// <summary>A signed range's bounds.</summary>
    /// <exception cref="InvalidOperationException">The property is not a <see cref="DrmPropertyKind.SignedRange"/>.</exception>
    public (long Minimum, long Maximum) SignedRange => Kind == DrmPropertyKind.SignedRange && Values.Count == 2
        ? ((long)Values[0], (long)Values[1])
        : throw new InvalidOperationException($"{this} is not a signed range property.");

    /// <summary>The kind of object an object property refers to (<c>FB_ID</c>: framebuffers, <c>CRTC_ID</c>: CRTCs).</summary>
    /// <exception cref="InvalidOperationException">The property is not an <see cref="DrmPropertyKind.ObjectId"/> property.</exception>
    public DrmObjectType ObjectType => Kind == DrmPropertyKind.ObjectId && Values.Count == 1
        ? (DrmObjectType)(uint)Values[0]
        : throw new InvalidOperationException($"{this} is not an object property.");

    /// <summary>
    /// The value to set for the named entry of an enum (its value) or a bitmask (its bit, <c>1 &lt;&lt; n</c>): for
    /// <c>rotation</c>, <c>ValueOf("rotate-0") | ValueOf("reflect-y")</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The property has no entry of that name; the message lists the ones it has.</exception>
    public ulong ValueOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (DrmPropertyEnum e in Enums)
        {
            if (e.Name == name)
            {
                return Kind == DrmPropertyKind.Bitmask ? 1UL << (int)(e.Value & 63) : e.Value;
            }
        }

        throw new ArgumentException(Enums.Count == 0
            ? $"{this} has no named values; '{name}' is not one."
            : $"{this} has no value named '{name}'; it has {string.Join(", ", Enums.Select(e => e.Name))}.", nameof(name));
    }

    /// <summary>The name of an enum property's value, such as <c>Primary</c> for a plane's <c>type</c> 1; null when it has none.</summary>
    public string? NameOf(ulong value) => Enums.FirstOrDefault(e => e.Value == value)?.Name;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"property {Id} '{Name}' ({Kind})");
}

/// <summary>A named value of an enum or bitmask property.</summary>
/// <param name="Name">Its name, such as <c>reflect-y</c>.</param>
/// <param name="Value">The value (an enum's) or bit number (a bitmask's).</param>
public sealed record DrmPropertyEnum(string Name, ulong Value);

/// <summary>What kind of values a property takes (its <c>DRM_MODE_PROP_*</c> type).</summary>
public enum DrmPropertyKind
{
    /// <summary>A type this library does not know.</summary>
    Unknown = 0,

    /// <summary>An unsigned integer within <see cref="DrmProperty.Range"/>.</summary>
    Range,

    /// <summary>A signed integer within <see cref="DrmProperty.SignedRange"/> (set as its two's complement).</summary>
    SignedRange,

    /// <summary>One of the named values in <see cref="DrmProperty.Enums"/>.</summary>
    Enum,

    /// <summary>A set of the named bits in <see cref="DrmProperty.Enums"/>.</summary>
    Bitmask,

    /// <summary>A property blob's id (0 for none).</summary>
    Blob,

    /// <summary>The id of a KMS object of <see cref="DrmProperty.ObjectType"/> (0 for none).</summary>
    ObjectId,
}
