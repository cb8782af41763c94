using System.Buffers.Binary;

namespace PrimeInterop;

/// <summary>
/// PrimeInterop's wire form of a <see cref="DmaBufDescription"/> (docs/wire-protocol.md): 64 little-endian bytes —
/// magic "PIDB", version, plane count, width, height, fourcc, modifier, then offset and stride per plane — with
/// the planes' fds beside it in the same message (plane i is fd i).
/// </summary>
internal static class DmaBufWireFormat
{
    /// <summary>Bytes on the wire, fds apart.</summary>
    public const int Size = 64;

    private const uint Magic = 0x42444950; // "PIDB"
    private const ushort Version = 1;

    // Where the fields are (docs/wire-protocol.md): the header, then each plane's offset and stride.
    private const int VersionAt = 4, PlaneCountAt = 6, WidthAt = 8, HeightAt = 12, FormatAt = 16, ModifierAt = 24;
    private const int PlanesAt = 32, PlaneSize = 8, StrideInPlane = 4;

    private static int PlaneAt(int plane) => PlanesAt + (PlaneSize * plane);

    /// <summary>Writes <paramref name="description"/>; see <see cref="DmaBufDescription.Write"/>.</summary>
    public static void Write(DmaBufDescription description, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(description);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Size, nameof(destination));
        destination[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[VersionAt..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[PlaneCountAt..], (ushort)description.Planes.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[WidthAt..], description.Width);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[HeightAt..], description.Height);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[FormatAt..], description.Format.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[ModifierAt..], description.Modifier);
        for (int i = 0; i < description.Planes.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(destination[PlaneAt(i)..], description.Planes[i].Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[(PlaneAt(i) + StrideInPlane)..], description.Planes[i].Stride);
        }
    }

    /// <summary>Reads a description with its fds; see <see cref="DmaBufDescription.Read"/>.</summary>
    public static DmaBufDescription Read(ReadOnlySpan<byte> source, ReceivedFds fds)
    {
        ArgumentNullException.ThrowIfNull(fds);
        if (source.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(source) != Magic)
        {
            throw new InvalidDataException("Not a PrimeInterop buffer description (bad size or magic).");
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(source[VersionAt..]) != Version)
        {
            throw new InvalidDataException($"Unsupported buffer description version {BinaryPrimitives.ReadUInt16LittleEndian(source[VersionAt..])}.");
        }

        int count = BinaryPrimitives.ReadUInt16LittleEndian(source[PlaneCountAt..]);
        if (count is < 1 or > DmaBufDescription.MaxPlanes || fds.Count != count)
        {
            throw new InvalidDataException($"The description has {count} plane(s) but {fds.Count} fd(s) came with it.");
        }

        var planes = new List<DmaBufPlane>(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                planes.Add(new DmaBufPlane(fds.TakeDmaBuf(i),
                    BinaryPrimitives.ReadUInt32LittleEndian(source[PlaneAt(i)..]),
                    BinaryPrimitives.ReadUInt32LittleEndian(source[(PlaneAt(i) + StrideInPlane)..])));
            }

            return new DmaBufDescription(
                BinaryPrimitives.ReadUInt32LittleEndian(source[WidthAt..]),
                BinaryPrimitives.ReadUInt32LittleEndian(source[HeightAt..]),
                new DrmFourcc(BinaryPrimitives.ReadUInt32LittleEndian(source[FormatAt..])),
                BinaryPrimitives.ReadUInt64LittleEndian(source[ModifierAt..]),
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
}
