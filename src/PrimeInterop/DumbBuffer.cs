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

    /// <summary>
    /// Maps the whole buffer through the device (<c>DRM_IOCTL_MODE_MAP_DUMB</c> + mmap), read-write. Reach the memory
    /// with <see cref="DrmMapping.BeginAccess"/>. A mapping is at most int.MaxValue bytes (a span's limit), and the
    /// device maps whole objects only: map a larger buffer in windows through its dma-buf
    /// (<see cref="DrmDevice.ExportDmaBuf"/>, then <see cref="DmaBuf.Map"/> with an offset and length).
    /// </summary>
    /// <exception cref="NotSupportedException">The buffer is larger than int.MaxValue bytes; checked before any syscall.</exception>
    public DrmMapping Map()
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
        return new DrmMapping(address, (long)Size);
    }

    /// <summary>Drops this buffer's handle reference.</summary>
    public void Dispose() => Handle.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"dumb buffer {Width}x{Height}x{BitsPerPixel} ({Handle})";
}

/// <summary>
/// A plain shared memory mapping (for example of a dumb buffer); unmapped on dispose, or by the finalizer if it is
/// never disposed. The memory is reached only through a <see cref="BeginAccess"/> scope, which holds the mapping:
/// no span can point at unmapped memory, even when the mapping object itself is no longer referenced.
/// </summary>
public sealed class DrmMapping : IDisposable
{
    private readonly MappingHandle _memory;
    private volatile bool _disposed; // the handle itself stays open while a scope holds it

    internal DrmMapping(IntPtr address, long length)
    {
        _memory = new MappingHandle(address, length, parent: null);
        Length = length;
    }

    /// <summary>The mapped length in bytes.</summary>
    public long Length { get; }

    /// <summary>Opens the memory for the CPU; the scope holds the mapping until it is disposed (always <c>using</c> it).</summary>
    public DrmCpuAccess BeginAccess()
    {
        if (!_disposed)
        {
            try
            {
                var lease = new HandleLease(_memory);
                return new DrmCpuAccess(lease, _memory.Span());
            }
            catch (ObjectDisposedException)
            {
            }
        }

        throw new ObjectDisposedException(nameof(DrmMapping), "The mapping has been disposed.");
    }

    /// <summary>Unmaps the memory now, or, while an access scope is open, when the last one ends.</summary>
    public void Dispose()
    {
        _disposed = true;
        _memory.Dispose();
    }
}

/// <summary>An access scope on a <see cref="DrmMapping"/>: its span is valid, and the memory mapped, until it is disposed.</summary>
public ref struct DrmCpuAccess
{
    private HandleLease _lease;

    internal DrmCpuAccess(HandleLease lease, Span<byte> span)
    {
        _lease = lease;
        Span = span;
    }

    /// <summary>The mapped bytes; valid until this scope is disposed.</summary>
    public Span<byte> Span { get; private set; }

    /// <summary>Releases the mapping (it is unmapped now if its owner was disposed or finalized meanwhile).</summary>
    public void Dispose()
    {
        Span = default;
        HandleLease lease = _lease;
        _lease = default;
        lease.Dispose();
    }
}

/// <summary>Range checks shared by every mapping, overflow-proof.</summary>
internal static class MappingRange
{
    /// <summary>The length to map (<paramref name="length"/>, or the rest of the object when it is -1).</summary>
    public static long Validate(long size, long offset, long length)
    {
        long page = Environment.SystemPageSize;
        if (offset < 0 || offset % page != 0 || offset >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"The offset must be a multiple of the page size ({page}) inside the {size}-byte buffer.");
        }

        if (length == -1)
        {
            length = size - offset;
        }

        if (length <= 0 || length > size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"Mapping {length} bytes at offset {offset} does not fit the {size}-byte buffer.");
        }

        if (length > MappingHandle.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"A mapping is at most {MappingHandle.MaxLength} bytes (a Span<byte>'s limit); map this {size}-byte buffer in windows (offset, length).");
        }

        return length;
    }
}
