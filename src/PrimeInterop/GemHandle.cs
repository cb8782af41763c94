using System.Runtime.InteropServices;

namespace PrimeInterop;

/// <summary>
/// One reference to a GEM buffer object in one open DRM file. The kernel gives a file exactly one handle per
/// object and does not count its users, so <see cref="DrmDevice"/> keeps a table: every import or creation that
/// yields an object this file already has returns another <see cref="GemHandle"/> for the same handle number,
/// and <c>GEM_CLOSE</c> is issued once, when the last of them is disposed (or finalized).
/// A handle holds a reference on its device's fd, so the fd stays open until the last handle is gone.
/// </summary>
public sealed class GemHandle : SafeHandle
{
    private readonly uint _value;

    /// <summary>Wraps one reference the device's handle table has already counted (and the file reference with it).</summary>
    internal GemHandle(DrmDevice device, uint handle)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        Device = device;
        _value = handle;
        SetHandle(new IntPtr(handle));
    }

    /// <summary>The device (open DRM file) whose handle namespace this handle lives in.</summary>
    public DrmDevice Device { get; }

    /// <summary>The kernel's handle number, valid only in <see cref="Device"/>'s file.</summary>
    public uint Value => _value;

    /// <summary>How many live <see cref="GemHandle"/> references this file holds on the object right now.</summary>
    public int ReferenceCount => IsClosed ? 0 : Device.ReferenceCountOf(_value);

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>True when both refer to the same buffer object through the same open file.</summary>
    public bool RefersToSameObject(GemHandle other)
    {
        ArgumentNullException.ThrowIfNull(other);

        // While both are open the number cannot have been closed and recycled, so equal numbers are one object.
        return ReferenceEquals(Device, other.Device) && _value == other._value && !IsClosed && !other.IsClosed;
    }

    /// <inheritdoc/>
    public override string ToString() => $"GEM handle {Value} on {Device.Path}";

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Device.Release(_value);
}
