using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace PrimeCtl;

/// <summary>Writes XRGB8888 pixels as an 8-bit RGB PNG, with nothing but the runtime's zlib.</summary>
internal static class PngWriter
{
    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        }

        return c;
    }).ToArray();

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
        uint crc = 0xffffffff;
        foreach (byte b in typeBytes.Concat(data))
        {
            crc = CrcTable[(crc ^ b) & 0xff] ^ (crc >> 8);
        }

        BinaryPrimitives.WriteUInt32BigEndian(word, ~crc);
        s.Write(word);
    }
}
