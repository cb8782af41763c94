namespace PrimeInterop;

/// <summary>One plane of a <see cref="DmaBufDescription"/>: where in which dma-buf its rows start, and their stride.</summary>
/// <param name="Buffer">The dma-buf holding the plane; planes may share one.</param>
/// <param name="Offset">Byte offset of the plane's first row.</param>
/// <param name="Stride">Bytes from one row to the next.</param>
public sealed record DmaBufPlane(DmaBuf Buffer, uint Offset, uint Stride);

/// <summary>
/// A complete image in dma-bufs, as a client hands it to a compositor (wlroots' <c>wlr_dmabuf_attributes</c>,
/// Smithay's <c>Dmabuf</c>, the linux-dmabuf protocol): size, fourcc format, modifier and 1–4 planes.
/// Validated on construction. The description owns its planes' dma-bufs and disposes them.
/// </summary>
public sealed class DmaBufDescription : IDisposable
{
    /// <summary><c>DRM_FORMAT_MOD_LINEAR</c>.</summary>
    public const ulong LinearModifier = 0;

    /// <summary>The most planes a dma-buf image has (and a KMS framebuffer takes): 4.</summary>
    public const int MaxPlanes = Interop.DrmModeFb.MaxPlanes;

    /// <summary><c>DRM_FORMAT_MOD_INVALID</c>: "no explicit modifier"; the driver decides.</summary>
    public const ulong InvalidModifier = 0x00ffffffffffffff;

    /// <summary>The size of the wire form (<see cref="Write"/>), fds apart.</summary>
    public const int WireSize = DmaBufWireFormat.Size;

    /// <summary>Validates and builds a description.</summary>
    /// <exception cref="ArgumentException">A field is out of range; the message names it.</exception>
    public DmaBufDescription(uint width, uint height, DrmFourcc format, ulong modifier, IReadOnlyList<DmaBufPlane> planes)
    {
        ArgumentNullException.ThrowIfNull(planes);
        ArgumentOutOfRangeException.ThrowIfZero(width);
        ArgumentOutOfRangeException.ThrowIfZero(height);
        if (planes.Count is < 1 or > MaxPlanes)
        {
            throw new ArgumentOutOfRangeException(nameof(planes), planes.Count, $"A dma-buf image has 1 to {MaxPlanes} planes.");
        }

        DrmFormatInfo info = format.Info ?? throw new ArgumentException($"Unknown or unsupported format {format}.", nameof(format));
        if (planes.Count != info.PlaneCount)
        {
            throw new ArgumentException($"Format {format} has {info.PlaneCount} plane(s), not {planes.Count}.", nameof(planes));
        }

        for (int i = 0; i < planes.Count; i++)
        {
            DmaBufPlane p = planes[i] ?? throw new ArgumentNullException(nameof(planes), $"Plane {i} is null.");
            // 128-bit arithmetic: no product or sum of these 32-bit fields can overflow it.
            UInt128 minStride = (UInt128)info.PlaneWidth(i, width) * (uint)info.BytesPerPixel[i];
            if (p.Stride == 0 || (modifier is LinearModifier or InvalidModifier && p.Stride < minStride))
            {
                throw new ArgumentException($"Plane {i}: stride {p.Stride} is less than a row of {minStride} bytes.", nameof(planes));
            }

            // The kernel's own framebuffer check: (height - 1) * pitch + min_pitch + offset <= object size.
            UInt128 end = (UInt128)p.Offset + ((UInt128)info.PlaneHeight(i, height) - 1) * p.Stride + minStride;
            if (end > (UInt128)p.Buffer.Size)
            {
                throw new ArgumentException($"Plane {i}: offset {p.Offset} + {info.PlaneHeight(i, height)} rows of stride {p.Stride} end at byte {end}, past the {p.Buffer.Size}-byte dma-buf.", nameof(planes));
            }
        }

        Width = width;
        Height = height;
        Format = format;
        Modifier = modifier;
        Planes = [.. planes];
    }

    /// <summary>Width in pixels.</summary>
    public uint Width { get; }

    /// <summary>Height in pixels.</summary>
    public uint Height { get; }

    /// <summary>Pixel format.</summary>
    public DrmFourcc Format { get; }

    /// <summary>Format modifier (tiling/compression); <see cref="LinearModifier"/> for plain rows.</summary>
    public ulong Modifier { get; }

    /// <summary>The planes, 1 to 4.</summary>
    public IReadOnlyList<DmaBufPlane> Planes { get; }

    /// <summary>Writes the wire form (fds apart: plane i travels as fd i) into <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination) => DmaBufWireFormat.Write(this, destination);

    /// <summary>
    /// Reads the wire form with the fds that came with it (plane i is fd i, checked by the kernel to be a dma-buf).
    /// The fds used are taken from <paramref name="fds"/>; on any error those already taken are closed and the rest
    /// stay in <paramref name="fds"/>, whose disposal closes them.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes or fds do not form a valid description.</exception>
    public static DmaBufDescription Read(ReadOnlySpan<byte> source, ReceivedFds fds) => DmaBufWireFormat.Read(source, fds);

    /// <summary>Disposes the planes' dma-bufs.</summary>
    public void Dispose()
    {
        foreach (var p in Planes)
        {
            p.Buffer.Dispose();
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Width}x{Height} {Format} modifier 0x{Modifier:x}, {Planes.Count} plane(s): " +
        string.Join("; ", Planes.Select((p, i) => $"#{i} {p.Buffer.Identity} offset {p.Offset} stride {p.Stride}"));
}
