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
    public int ObjectCount => Handles.Select(h => h.Value).Distinct().Count();

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
/// dispose. It holds its own references to the buffer objects, so the imported buffer may be disposed first.
/// </summary>
public sealed class Framebuffer : IDisposable
{
    private readonly GemHandle[] _handles;
    private int _disposed;

    internal Framebuffer(DrmDevice device, uint id, GemHandle[] handles)
    {
        Device = device;
        Id = id;
        _handles = handles;
    }

    /// <summary>The device the framebuffer lives on.</summary>
    public DrmDevice Device { get; }

    /// <summary>The kernel's framebuffer id.</summary>
    public uint Id { get; }

    /// <summary>Removes the framebuffer, then drops its buffer references.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            // The handle references keep the device's file open even if the device was disposed.
            ThrowHelper.ThrowIfError(DrmModeFb.RmFB(Device.RawFd, Id), "DRM_IOCTL_MODE_RMFB", Device.Path);
        }
        finally
        {
            foreach (GemHandle h in _handles)
            {
                h.Dispose();
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"framebuffer {Id} on {Device.Path}";
}
