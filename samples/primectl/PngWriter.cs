using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace PrimeCtl;

/// <summary>Writes XRGB8888 pixels as an 8-bit RGB PNG, with the runtime's zlib and System.IO.Hashing's CRC-32.</summary>
internal static class PngWriter
{
    public static void WriteXrgb8888(string path, ReadOnlySpan<byte> pixels, uint width, uint height, uint stride)
    {
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a]);
        byte[] header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 2; // colour type: RGB
        Chunk(file, "IHDR", header);

        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            byte[] line = new byte[1 + (width * 3)];
            for (uint y = 0; y < height; y++)
            {
                var row = pixels.Slice((int)(y * stride), (int)(width * 4));
                for (uint x = 0; x < width; x++)
                {
                    line[1 + (x * 3)] = row[(int)(x * 4) + 2];     // R
                    line[1 + (x * 3) + 1] = row[(int)(x * 4) + 1]; // G
                    line[1 + (x * 3) + 2] = row[(int)(x * 4)];     // B
                }

                z.Write(line);
            }
        }

        Chunk(file, "IDAT", raw.ToArray());
        Chunk(file, "IEND", []);
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        s.Write(word);
        byte[] typeBytes = Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        var crc = new Crc32(); // PNG's CRC is CRC-32 (ISO-HDLC) over the chunk type and data
        crc.Append(typeBytes);
        crc.Append(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        s.Write(word);
    }
}
