using System.Buffers.Binary;
using System.Net.Sockets;

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

    /// <summary><c>DRM_FORMAT_MOD_INVALID</c>: "no explicit modifier"; the driver decides.</summary>
    public const ulong InvalidModifier = 0x00ffffffffffffff;

    /// <summary>The size of the wire form (<see cref="Write"/>), fds apart.</summary>
    public const int WireSize = 64;

    private const uint WireMagic = 0x42444950; // "PIDB"
    private const ushort WireVersion = 1;

    /// <summary>Validates and builds a description.</summary>
    /// <exception cref="ArgumentException">A field is out of range; the message names it.</exception>
    public DmaBufDescription(uint width, uint height, DrmFourcc format, ulong modifier, IReadOnlyList<DmaBufPlane> planes)
    {
        ArgumentNullException.ThrowIfNull(planes);
        ArgumentOutOfRangeException.ThrowIfZero(width);
        ArgumentOutOfRangeException.ThrowIfZero(height);
        if (planes.Count is < 1 or > 4)
        {
            throw new ArgumentOutOfRangeException(nameof(planes), planes.Count, "A dma-buf image has 1 to 4 planes.");
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
    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, WireSize, nameof(destination));
        destination[..WireSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, WireMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], WireVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], (ushort)Planes.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Width);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], Height);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], Format.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], Modifier);
        for (int i = 0; i < Planes.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(destination[(32 + (8 * i))..], Planes[i].Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[(36 + (8 * i))..], Planes[i].Stride);
        }
    }

    /// <summary>
    /// Reads the wire form with the fds that came with it (plane i is fd i, checked by the kernel to be a dma-buf).
    /// The fds used are taken from <paramref name="fds"/>; on any error those already taken are closed and the rest
    /// stay in <paramref name="fds"/>, whose disposal closes them.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes or fds do not form a valid description.</exception>
    public static DmaBufDescription Read(ReadOnlySpan<byte> source, ReceivedFds fds)
    {
        ArgumentNullException.ThrowIfNull(fds);
        if (source.Length < WireSize || BinaryPrimitives.ReadUInt32LittleEndian(source) != WireMagic)
        {
            throw new InvalidDataException("Not a PrimeInterop buffer description (bad size or magic).");
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(source[4..]) != WireVersion)
        {
            throw new InvalidDataException($"Unsupported buffer description version {BinaryPrimitives.ReadUInt16LittleEndian(source[4..])}.");
        }

        int count = BinaryPrimitives.ReadUInt16LittleEndian(source[6..]);
        if (count is < 1 or > 4 || fds.Count != count)
        {
            throw new InvalidDataException($"The description has {count} plane(s) but {fds.Count} fd(s) came with it.");
        }

        var planes = new List<DmaBufPlane>(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                planes.Add(new DmaBufPlane(fds.TakeDmaBuf(i),
                    BinaryPrimitives.ReadUInt32LittleEndian(source[(32 + (8 * i))..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(source[(36 + (8 * i))..])));
            }

            return new DmaBufDescription(
                BinaryPrimitives.ReadUInt32LittleEndian(source[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(source[12..]),
                new DrmFourcc(BinaryPrimitives.ReadUInt32LittleEndian(source[16..])),
                BinaryPrimitives.ReadUInt64LittleEndian(source[24..]),
                planes);
        }
        catch (Exception e)
        {
            // Every fd taken so far is closed, whatever failed; the rest are still the caller's (in fds).
            foreach (var p in planes)
            {
                p.Buffer.Dispose();
            }

            if (e is ArgumentException)
            {
                throw new InvalidDataException("Invalid buffer description: " + e.Message, e);
            }

            throw;
        }
    }

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

/// <summary>Sends and receives <see cref="DmaBufDescription"/>s over AF_UNIX sockets.</summary>
public static class DmaBufSocketExtensions
{
    /// <summary>Sends the description and its planes' fds (one per plane) as one message.</summary>
    public static async ValueTask SendDmaBufAsync(this Socket socket, DmaBufDescription description, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(description);
        byte[] wire = new byte[DmaBufDescription.WireSize];
        description.Write(wire);
        int sent = await socket.SendWithFdsAsync(wire, [.. description.Planes.Select(p => (System.Runtime.InteropServices.SafeHandle)p.Buffer)], cancellationToken).ConfigureAwait(false);
        while (sent < wire.Length) // stream sockets may take it in parts; the fds went with the first
        {
            sent += await socket.SendAsync(wire.AsMemory(sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Receives one description; null when the peer closed the connection before sending one. On a seqpacket socket
    /// it is exactly one record (one recvmsg); on a stream socket the rest of a description sent in parts is read on.
    /// </summary>
    /// <exception cref="InvalidDataException">What arrived is not a valid description (a record shorter or longer than
    /// one, wrong magic, an fd that is not a dma-buf, …); its fds were closed and the next message is unaffected.</exception>
    public static async ValueTask<DmaBufDescription?> ReceiveDmaBufAsync(this Socket socket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        bool records = socket.SocketType == SocketType.Seqpacket;
        byte[] wire = new byte[DmaBufDescription.WireSize];
        using ReceivedFds fds = await socket.ReceiveWithFdsAsync(wire, 4, cancellationToken).ConfigureAwait(false);
        if (fds.BytesReceived == 0 && fds.Count == 0)
        {
            return null;
        }

        int got = fds.BytesReceived;
        if (records && got != wire.Length)
        {
            throw new InvalidDataException($"A {got}-byte record is not a buffer description ({wire.Length} bytes); its {fds.Count} fd(s) were closed.");
        }

        while (got < wire.Length)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(wire.AsMemory(got), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw DrmException.FromErrno(e.NativeErrorCode, Interop.Libc.Operation.Recv, "socket"); // one transport error type
            }

            if (n == 0)
            {
                throw new InvalidDataException($"The peer closed the connection after {got} of {wire.Length} description bytes.");
            }

            got += n;
        }

        return DmaBufDescription.Read(wire, fds);
    }
}
