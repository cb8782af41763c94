using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A <see cref="DmaBufDescription"/> imported into one device: one <see cref="GemHandle"/> reference per plane.
/// Planes in one underlying object share its handle (the reference count shows it); disposing closes each
/// handle once, when its last reference goes.
/// </summary>
public sealed class ImportedBuffer : IDisposable
{
    internal ImportedBuffer(DrmDevice device, DmaBufDescription description, GemHandle[] handles)
    {
        Device = device;
        Width = description.Width;
        Height = description.Height;
        Format = description.Format;
        Modifier = description.Modifier;
        Offsets = [.. description.Planes.Select(p => p.Offset)];
        Strides = [.. description.Planes.Select(p => p.Stride)];
        Handles = handles;
    }

    /// <summary>The device the planes were imported into.</summary>
    public DrmDevice Device { get; }

    /// <summary>Width in pixels.</summary>
    public uint Width { get; }

    /// <summary>Height in pixels.</summary>
    public uint Height { get; }

    /// <summary>Pixel format.</summary>
    public DrmFourcc Format { get; }

    /// <summary>Format modifier.</summary>
    public ulong Modifier { get; }

    /// <summary>Per plane, its handle reference in <see cref="Device"/>.</summary>
    public IReadOnlyList<GemHandle> Handles { get; }

    /// <summary>Per plane, the byte offset.</summary>
    public IReadOnlyList<uint> Offsets { get; }

    /// <summary>Per plane, the stride.</summary>
    public IReadOnlyList<uint> Strides { get; }

    /// <summary>How many distinct buffer objects the planes live in.</summary>
    public int ObjectCount => Handles.Select(h => h.Number).Distinct().Count();

    /// <summary>Drops every plane's handle reference.</summary>
    public void Dispose()
    {
        foreach (GemHandle h in Handles)
        {
            h.Dispose();
        }
    }
}

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
