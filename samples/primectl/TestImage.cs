namespace PrimeCtl;

/// <summary>
/// The recognisable XRGB8888 test image: a red/green gradient over a blue checkerboard, varied by a seed, so a
/// person sees it arrived and a program checks it pixel by pixel.
/// </summary>
internal static class TestImage
{
    public static uint Pixel(uint x, uint y, uint width, uint height, uint seed)
    {
        uint r = x * 255 / Math.Max(width - 1, 1);
        uint g = y * 255 / Math.Max(height - 1, 1);
        uint b = (((x / 32) + (y / 32)) % 2 == 0 ? 0xe0u : 0x30u) ^ (seed & 0x1f);
        return 0xff000000u | (r << 16) | (g << 8) | b;
    }

    public static void Fill(Span<byte> pixels, uint width, uint height, uint stride, uint seed)
    {
        for (uint y = 0; y < height; y++)
        {
            var row = pixels.Slice((int)(y * stride), (int)(width * 4));
            for (uint x = 0; x < width; x++)
            {
                BitConverter.TryWriteBytes(row[(int)(x * 4)..], Pixel(x, y, width, height, seed));
            }
        }
    }

    /// <summary>How many pixels differ from the expected image (the X byte is ignored).</summary>
    public static long CountMismatches(ReadOnlySpan<byte> pixels, uint width, uint height, uint stride, uint seed)
    {
        long bad = 0;
        for (uint y = 0; y < height; y++)
        {
            var row = pixels.Slice((int)(y * stride), (int)(width * 4));
            for (uint x = 0; x < width; x++)
            {
                if ((BitConverter.ToUInt32(row[(int)(x * 4)..]) & 0xffffff) != (Pixel(x, y, width, height, seed) & 0xffffff))
                {
                    bad++;
                }
            }
        }

        return bad;
    }
}
