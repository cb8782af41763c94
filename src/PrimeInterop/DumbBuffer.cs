using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A dumb buffer created on a primary node: a CPU-mappable, linear buffer. Disposing it drops its handle
/// reference; the kernel object is destroyed when the last reference (including self-imports) goes, and lives on
/// while a dma-buf exported from it exists.
/// </summary>
public sealed class DumbBuffer : IDisposable
{
    internal DumbBuffer(GemHandle handle, uint width, uint height, uint bitsPerPixel, uint pitch, ulong size)
    {
        Handle = handle;
        Width = width;
        Height = height;
        BitsPerPixel = bitsPerPixel;
        Pitch = pitch;
        Size = size;
    }

    /// <summary>The GEM handle reference this buffer holds.</summary>
    public GemHandle Handle { get; }

    /// <summary>Width in pixels.</summary>
    public uint Width { get; }

    /// <summary>Height in pixels.</summary>
    public uint Height { get; }

    /// <summary>Bits per pixel as requested.</summary>
    public uint BitsPerPixel { get; }

    /// <summary>Bytes per row, as the kernel chose it.</summary>
    public uint Pitch { get; }

    /// <summary>Size in bytes, as the kernel chose it.</summary>
    public ulong Size { get; }

    /// <summary>Maps the buffer through the device (<c>DRM_IOCTL_MODE_MAP_DUMB</c> + mmap), read-write.</summary>
    public DrmMapping Map()
    {
        DrmDevice device = Handle.Device;
        using var held = new HandleLease(Handle); // the handle keeps the device's file open, so its fd is valid
        ThrowHelper.ThrowIfError(DrmModeDumb.Map(device.RawFd, Handle.Value, out ulong offset), "DRM_IOCTL_MODE_MAP_DUMB", device.Path, gemHandle: Handle.Value);
        int errno = Libc.Mmap(device.RawFd, (nuint)Size, Libc.PROT_READ | Libc.PROT_WRITE, (long)offset, out IntPtr address);
        ThrowHelper.ThrowIfError(errno, "mmap", device.Path, gemHandle: Handle.Value);
        return new DrmMapping(address, (long)Size);
    }

    /// <summary>Drops this buffer's handle reference.</summary>
    public void Dispose() => Handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"dumb buffer {Width}x{Height}x{BitsPerPixel} ({Handle})";
}

/// <summary>A plain shared memory mapping (for example of a dumb buffer); unmapped on dispose.</summary>
public sealed class DrmMapping : IDisposable
{
    private readonly MappingHandle _memory;

    internal DrmMapping(IntPtr address, long length)
    {
        _memory = new MappingHandle(address, length, owner: null);
        Length = length;
    }

    /// <summary>The mapped length in bytes.</summary>
    public long Length { get; }

    /// <summary>The mapped bytes.</summary>
    public Span<byte> Span => _memory.Span(this);

    /// <summary>Unmaps the memory (the finalizer does it too, if this is never disposed).</summary>
    public void Dispose() => _memory.Dispose();
}
