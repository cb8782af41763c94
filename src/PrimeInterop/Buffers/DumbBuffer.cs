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

    /// <summary><c>DRM_IOCTL_MODE_CREATE_DUMB</c> on <paramref name="device"/>; see <see cref="DrmDevice.CreateDumbBuffer"/>.</summary>
    internal static DumbBuffer Create(DrmDevice device, uint width, uint height, uint bitsPerPixel)
    {
        ArgumentOutOfRangeException.ThrowIfZero(width);
        ArgumentOutOfRangeException.ThrowIfZero(height);
        ArgumentOutOfRangeException.ThrowIfZero(bitsPerPixel);
        // 128-bit arithmetic: width * bpp * height cannot overflow it (2^96 at most).
        UInt128 pitch = ((UInt128)width * bitsPerPixel + 7) / 8;
        if (pitch * height > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(height),
                $"A {width}x{height} dumb buffer at {bitsPerPixel} bpp needs {pitch * height} bytes; the kernel's limit is {uint.MaxValue}.");
        }

        var arg = new DrmModeDumb.drm_mode_create_dumb { width = width, height = height, bpp = bitsPerPixel };
        using var lease = device.DeviceLease();
        int errno = device.Table.CreateDumb(device.RawFd, ref arg, out GemHandleTable.Entry? entry);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, nameof(DrmModeDumb.DRM_IOCTL_MODE_CREATE_DUMB), device.Path, hint:
                errno == Errno.EACCES && device.NodeType == DrmNodeType.Render
                    ? "Dumb buffers need the primary node (/dev/dri/cardN) of this device, not a render node"
                    : null);
        }

        return new DumbBuffer(device.NewHandle(entry!), width, height, bitsPerPixel, arg.pitch, arg.size);
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

    /// <summary>
    /// Maps the whole buffer through the device (<c>DRM_IOCTL_MODE_MAP_DUMB</c> + mmap), read-write. Reach the memory
    /// with <see cref="DumbBufferMapping.BeginAccess"/>. A mapping is at most int.MaxValue bytes (a span's limit), and the
    /// device maps whole objects only: map a larger buffer in windows through its dma-buf
    /// (<see cref="DrmDevice.ExportDmaBuf"/>, then <see cref="DmaBuf.Map"/> with an offset and length).
    /// </summary>
    /// <exception cref="NotSupportedException">The buffer is larger than int.MaxValue bytes; checked before any syscall.</exception>
    public DumbBufferMapping Map()
    {
        if (Size > MappingHandle.MaxLength)
        {
            throw new NotSupportedException(
                $"This {Size}-byte dumb buffer is over the {MappingHandle.MaxLength}-byte limit of one mapping (a Span<byte>'s); export it and map windows of the dma-buf.");
        }

        DrmDevice device = Handle.Device;
        using var held = Handle.Lease(); // the handle keeps the device's file open, so its fd is valid
        uint number = Handle.Number;
        ThrowHelper.ThrowIfError(DrmModeDumb.Map(device.RawFd, number, out ulong offset), nameof(DrmModeDumb.DRM_IOCTL_MODE_MAP_DUMB), device.Path, gemHandle: number);
        int errno = Libc.Mmap(device.RawFd, (nuint)Size, Libc.PROT_READ | Libc.PROT_WRITE, (long)offset, out IntPtr address);
        ThrowHelper.ThrowIfError(errno, Libc.Operation.Mmap, device.Path, gemHandle: number);
        try
        {
            return new DumbBufferMapping(address, (long)Size);
        }
        catch
        {
            _ = Libc.Munmap(address, (nuint)Size); // out of memory: the range is unmapped again, not leaked
            throw;
        }
    }

    /// <summary>Drops this buffer's handle reference.</summary>
    public void Dispose() => Handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"dumb buffer {Width}x{Height}x{BitsPerPixel} ({Handle})";
}
