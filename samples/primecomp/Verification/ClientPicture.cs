using System.Buffers.Binary;

namespace PrimeComp.Verification;

/// <summary>
/// What weston-simple-dmabuf-egl draws with its clock frozen at 2.5 s (native/clock-freeze.c): a black window with a
/// centred square of half its size, whose corners are red, blue, green and yellow (in memory, before the Y flip the
/// client asks for: red top-left, blue top-right, green bottom-left, yellow bottom-right) and whose centre is cyan
/// grey, (0, 127, 127). Checked structurally, with room for the rasterizer's rounding at the edges.
/// </summary>
internal static class ClientPicture
{
    private const int Edge = 3; // pixels next to the square's edges are left out: partly covered, blended
    private const int Tolerance = 40;

    /// <summary>Null when the XRGB8888 pixels (tightly packed rows) show the picture; else what is wrong, first problem only.</summary>
    public static string? Check(byte[] pixels, int width, int height)
    {
        if (width < 32 || height < 32)
        {
            return $"{width}x{height} is too small to check";
        }

        int left = width / 4, right = width * 3 / 4, top = height / 4, bottom = height * 3 / 4;
        (int R, int G, int B) At(int x, int y) => Rgb(pixels, width, x, y);

        // The background: every pixel away from the square is black.
        for (int y = 0; y < height; y++)
        {
            bool besideRows = y < top - Edge || y >= bottom + Edge;
            for (int x = 0; x < width; x++)
            {
                if ((besideRows || x < left - Edge || x >= right + Edge) && At(x, y) != (0, 0, 0))
                {
                    return $"background pixel ({x}, {y}) is {At(x, y)}, not black";
                }
            }
        }

        // The square's interior is lit everywhere, and its corners and centre have their colours.
        for (int y = top + Edge; y < bottom - Edge; y++)
        {
            for (int x = left + Edge; x < right - Edge; x++)
            {
                if (At(x, y) == (0, 0, 0))
                {
                    return $"pixel ({x}, {y}) inside the square is black";
                }
            }
        }

        (string Name, int X, int Y, (int R, int G, int B) Colour)[] marks =
        [
            ("top-left", left + Edge, top + Edge, (255, 0, 0)),
            ("top-right", right - Edge - 1, top + Edge, (0, 0, 255)),
            ("bottom-left", left + Edge, bottom - Edge - 1, (0, 255, 0)),
            ("bottom-right", right - Edge - 1, bottom - Edge - 1, (255, 255, 0)),
            ("centre", width / 2, height / 2, (0, 127, 127)),
        ];
        foreach (var (name, x, y, c) in marks)
        {
            var p = At(x, y);
            if (Math.Abs(p.R - c.R) > Tolerance || Math.Abs(p.G - c.G) > Tolerance || Math.Abs(p.B - c.B) > Tolerance)
            {
                return $"the square's {name} pixel ({x}, {y}) is {p}, not about {c}";
            }
        }

        return null;
    }

    private static (int R, int G, int B) Rgb(byte[] pixels, int width, int x, int y)
    {
        uint p = BinaryPrimitives.ReadUInt32LittleEndian(pixels.AsSpan(((y * width) + x) * 4));
        return ((int)(p >> 16) & 0xff, (int)(p >> 8) & 0xff, (int)p & 0xff);
    }
}
