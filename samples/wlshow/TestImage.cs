namespace WlShow;

/// <summary>An XRGB8888 test image that differs per seed and per pixel, so a screenshot proves every pixel arrived.</summary>
public static class TestImage
{
    public static uint Pixel(uint x, uint y, uint seed)
    {
        uint r = (x * 7 + seed * 41) & 0xff;
        uint g = (y * 5 + seed * 97) & 0xff;
        uint b = ((x ^ y) + (seed * 13)) & 0xff;
        return 0xff000000u | (r << 16) | (g << 8) | b;
    }

    public static void Fill(Span<byte> pixels, uint width, uint height, uint stride, uint seed)
    {
        for (uint y = 0; y < height; y++)
        {
            var row = pixels.Slice((int)(y * stride), (int)(width * 4));
            for (uint x = 0; x < width; x++)
            {
                BitConverter.TryWriteBytes(row[(int)(x * 4)..], Pixel(x, y, seed));
            }
        }
    }

    /// <summary>Pixels of the screenshot that differ from the image (the X byte ignored), and the first one.</summary>
    public static (long Count, string? First) Compare(Screenshot shot, uint width, uint height, uint seed)
    {
        ArgumentNullException.ThrowIfNull(shot);
        if (shot.Width != width || shot.Height != height)
        {
            return ((long)width * height, $"screenshot is {shot.Width}x{shot.Height}, the image {width}x{height}");
        }

        long bad = 0;
        string? first = null;
        for (uint y = 0; y < height; y++)
        {
            for (uint x = 0; x < width; x++)
            {
                uint got = BitConverter.ToUInt32(shot.Pixels, (int)((y * shot.Stride) + (x * 4))) & 0xffffff;
                uint want = Pixel(x, y, seed) & 0xffffff;
                if (got != want)
                {
                    bad++;
                    first ??= $"({x},{y}) is 0x{got:x6}, expected 0x{want:x6}";
                }
            }
        }

        return (bad, first);
    }
}
