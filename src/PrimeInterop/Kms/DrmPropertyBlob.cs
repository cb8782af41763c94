using System.Globalization;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A property blob this file made (<c>DRM_IOCTL_MODE_CREATEPROPBLOB</c>), such as a mode for a CRTC's
/// <c>MODE_ID</c>; destroyed (<c>DESTROYPROPBLOB</c>) on dispose, or by the finalizer if it is never disposed. A
/// state that uses the blob keeps its own reference in the kernel: dispose it once the commit that used it is made.
/// It holds the device's file, so the device may be disposed first. Dispose never throws.
/// </summary>
public sealed class DrmPropertyBlob : IDisposable
{
    private readonly BlobHandle _handle;

    private DrmPropertyBlob(DrmDevice device, uint id, int length)
    {
        Device = device;
        Id = id;
        Length = length;
        _handle = new BlobHandle(device.FileHandle, id);
    }

    /// <summary>The device the blob lives on.</summary>
    public DrmDevice Device { get; }

    /// <summary>The blob's id: the value to set on a blob property.</summary>
    public uint Id { get; }

    /// <summary>Its length in bytes.</summary>
    public int Length { get; }

    /// <summary>Destroys the blob. Never throws.</summary>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[BLOB:{Id}] ({Length} bytes) on {Device.Path}");

    /// <summary>CREATEPROPBLOB on <paramref name="device"/>; see <see cref="DrmDevice.CreatePropertyBlob(ReadOnlySpan{byte})"/>.</summary>
    internal static DrmPropertyBlob Create(DrmDevice device, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            throw new ArgumentException("A property blob holds at least one byte (the kernel refuses an empty one).", nameof(data));
        }

        using var lease = device.DeviceLease();
        ThrowHelper.ThrowIfError(DrmModeProperty.CreateBlob(device.RawFd, data, out uint id), nameof(DrmModeProperty.DRM_IOCTL_MODE_CREATEPROPBLOB), device.Path);
        try
        {
            return new DrmPropertyBlob(device, id, data.Length);
        }
        catch
        {
            _ = DrmModeProperty.DestroyBlob(device.RawFd, id); // out of memory: the blob goes again, not leaked
            throw;
        }
    }

    /// <summary>The blob id, a child of the device's file: DESTROYPROPBLOB goes with it.</summary>
    private sealed class BlobHandle : ChildSafeHandle
    {
        public BlobHandle(SafeHandle deviceFile, uint id)
            : base(deviceFile) => SetHandle(new IntPtr(id));

        protected override bool ReleaseChild() => DrmModeProperty.DestroyBlob(ParentFd, (uint)handle) == 0;
    }
}
