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
    private readonly DrmDevice.GemObject _object;

    internal GemHandle(DrmDevice device, DrmDevice.GemObject obj)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        Device = device;
        _object = obj;
        SetHandle(new IntPtr(obj.Handle));
    }

    /// <summary>The device (open DRM file) whose handle namespace this handle lives in.</summary>
    public DrmDevice Device { get; }

    /// <summary>The kernel's handle number, valid only in <see cref="Device"/>'s file.</summary>
    public uint Value => _object.Handle;

    /// <summary>How many live <see cref="GemHandle"/> references this file holds on the object right now.</summary>
    public int ReferenceCount => Device.ReferenceCountOf(_object);

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    internal DrmDevice.GemObject Object => _object;

    /// <summary>True when both refer to the same buffer object through the same open file.</summary>
    public bool RefersToSameObject(GemHandle other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return ReferenceEquals(_object, other._object);
    }

    /// <inheritdoc/>
    public override string ToString() => $"GEM handle {Value} on {Device.Path}";

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Device.Release(_object);
}
