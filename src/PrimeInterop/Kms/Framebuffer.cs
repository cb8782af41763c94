using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A KMS framebuffer (<c>DRM_IOCTL_MODE_ADDFB2</c>) made from an imported buffer; removed with <c>RMFB</c> on
/// dispose, or by the finalizer if it is never disposed. It holds its own references to the buffer objects and
/// to the device's file, so the imported buffer and the device may be disposed first. Dispose never throws.
/// </summary>
public sealed class Framebuffer : IDisposable
{
    private readonly FramebufferHandle _handle;

    internal Framebuffer(DrmDevice device, SafeHandle deviceFile, uint id, GemHandle[] handles)
    {
        Device = device;
        Id = id;
        _handle = new FramebufferHandle(deviceFile, id, handles);
    }

    /// <summary><c>DRM_IOCTL_MODE_ADDFB2</c> on <paramref name="device"/>; see <see cref="DrmDevice.AddFramebuffer(ImportedBuffer)"/>.</summary>
    internal static Framebuffer Add(DrmDevice device, ImportedBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (!ReferenceEquals(buffer.Device, device))
        {
            throw new ArgumentException($"The buffer was imported into {buffer.Device.Path}, not {device.Path}; import it here first.", nameof(buffer));
        }

        return Add(device, buffer.Width, buffer.Height, buffer.Format, buffer.Modifier, buffer.Handles, [.. buffer.Strides], [.. buffer.Offsets]);
    }

    /// <summary><c>DRM_IOCTL_MODE_ADDFB2</c> of a dumb buffer; see <see cref="DrmDevice.AddFramebuffer(DumbBuffer, DrmFourcc)"/>.</summary>
    internal static Framebuffer Add(DrmDevice device, DumbBuffer buffer, DrmFourcc format)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (!ReferenceEquals(buffer.Handle.Device, device))
        {
            throw new ArgumentException($"The dumb buffer lives on {buffer.Handle.Device.Path}, not {device.Path}; export it and import it here first.", nameof(buffer));
        }

        return Add(device, buffer.Width, buffer.Height, format, DmaBufDescription.InvalidModifier, [buffer.Handle], [buffer.Pitch], [0]);
    }

    private static Framebuffer Add(DrmDevice device, uint width, uint height, DrmFourcc format, ulong modifier,
        IReadOnlyList<GemHandle> planes, ReadOnlySpan<uint> strides, ReadOnlySpan<uint> offsets)
    {
        using var lease = device.DeviceLease();
        int count = planes.Count;
        var refs = new List<GemHandle>(count);
        try
        {
            // The framebuffer's own references (ObjectDisposedException if the buffer was disposed): the kernel's
            // framebuffer holds the objects, and these keep their handles valid for RMFB's sake and our table's.
            foreach (GemHandle h in planes)
            {
                refs.Add(device.AddReference(h));
            }

            Span<uint> handles = stackalloc uint[count];
            Span<ulong> modifiers = stackalloc ulong[count];
            for (int i = 0; i < count; i++)
            {
                handles[i] = refs[i].Number;
                modifiers[i] = modifier == DmaBufDescription.InvalidModifier ? 0 : modifier;
            }

            bool withModifiers = modifier != DmaBufDescription.InvalidModifier;
            int errno = DrmModeFb.AddFB2(device.RawFd, width, height, format.Value,
                withModifiers ? DrmModeFb.DRM_MODE_FB_MODIFIERS : 0, handles, strides, offsets, modifiers, out uint fbId);
            ThrowHelper.ThrowIfError(errno, nameof(DrmModeFb.DRM_IOCTL_MODE_ADDFB2), device.Path, gemHandle: handles[0], hint: errno switch
            {
                Errno.EOPNOTSUPP or Errno.EINVAL when device.NodeType == DrmNodeType.Render => "framebuffers need a KMS driver's primary node",
                Errno.EINVAL => $"the driver refused {width}x{height} {format} with these pitches/offsets/modifier",
                _ => null,
            });
            return new Framebuffer(device, device.FileHandle, fbId, [.. refs]);
        }
        catch
        {
            refs.ForEach(h => h.Dispose());
            throw;
        }
    }

    /// <summary>The device the framebuffer lives on.</summary>
    public DrmDevice Device { get; }

    /// <summary>The kernel's framebuffer id.</summary>
    public uint Id { get; }

    /// <summary>Removes the framebuffer (RMFB), then drops its buffer references. Never throws; a failed RMFB
    /// (the kernel removed it already, for example) is ignored.</summary>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"framebuffer {Id} on {Device.Path}";

    /// <summary>The framebuffer id, a child of the device's file; RMFB and the handle references go with it.</summary>
    private sealed class FramebufferHandle : ChildSafeHandle
    {
        private readonly GemHandle[] _handles;

        public FramebufferHandle(SafeHandle deviceFile, uint id, GemHandle[] handles)
            : base(deviceFile)
        {
            _handles = handles;
            SetHandle(new IntPtr(id));
        }

        protected override bool ReleaseChild()
        {
            bool ok = DrmModeFb.RmFB(ParentFd, (uint)handle) == 0;
            foreach (GemHandle h in _handles)
            {
                h.Dispose();
            }

            return ok;
        }
    }
}
