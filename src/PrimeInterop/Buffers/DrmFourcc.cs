using System.Globalization;

namespace PrimeInterop;

/// <summary>A DRM pixel format code (include/uapi/drm/drm_fourcc.h), such as <c>XR24</c> for XRGB8888.</summary>
/// <param name="Value">The little-endian four-character code.</param>
public readonly record struct DrmFourcc(uint Value)
{
    /// <summary>32-bit xRGB, 8 bits each (<c>XR24</c>).</summary>
    public static readonly DrmFourcc Xrgb8888 = From("XR24");

    /// <summary>32-bit ARGB, 8 bits each (<c>AR24</c>).</summary>
    public static readonly DrmFourcc Argb8888 = From("AR24");

    /// <summary>32-bit xBGR, 8 bits each (<c>XB24</c>).</summary>
    public static readonly DrmFourcc Xbgr8888 = From("XB24");

    /// <summary>32-bit ABGR, 8 bits each (<c>AB24</c>).</summary>
    public static readonly DrmFourcc Abgr8888 = From("AB24");

    /// <summary>16-bit RGB 5:6:5 (<c>RG16</c>).</summary>
    public static readonly DrmFourcc Rgb565 = From("RG16");

    /// <summary>8-bit single channel (<c>R8  </c>).</summary>
    public static readonly DrmFourcc R8 = From("R8  ");

    /// <summary>Two-plane YUV 4:2:0: Y plane, then interleaved CbCr at half height (<c>NV12</c>).</summary>
    public static readonly DrmFourcc Nv12 = From("NV12");

    /// <summary>Three-plane YUV 4:2:0: Y, Cb, Cr (<c>YU12</c>).</summary>
    public static readonly DrmFourcc Yuv420 = From("YU12");

    /// <summary>Builds a code from its four characters.</summary>
    public static DrmFourcc From(string code)
    {
        ArgumentNullException.ThrowIfNull(code);
        if (code.Length != 4 || code.Any(c => c > 0x7f))
        {
            throw new ArgumentException($"A fourcc is four ASCII characters, not '{code}'.", nameof(code));
        }

        return new DrmFourcc((uint)code[0] | ((uint)code[1] << 8) | ((uint)code[2] << 16) | ((uint)code[3] << 24));
    }

    /// <summary>Plane layout of the formats this library knows; null for others.</summary>
    public DrmFormatInfo? Info => Formats.TryGetValue(Value, out var info) ? info : null;

    /// <inheritdoc/>
    public override string ToString()
    {
        Span<char> c = [(char)(Value & 0xff), (char)((Value >> 8) & 0xff), (char)((Value >> 16) & 0xff), (char)(Value >> 24)];
        return c.ContainsAnyExceptInRange((char)0x20, (char)0x7e)
            ? "0x" + Value.ToString("x8", CultureInfo.InvariantCulture)
            : new string(c).TrimEnd();
    }

    private static readonly Dictionary<uint, DrmFormatInfo> Formats = new()
    {
        [From("XR24").Value] = new([4], 1, 1),
        [From("AR24").Value] = new([4], 1, 1),
        [From("XB24").Value] = new([4], 1, 1),
        [From("AB24").Value] = new([4], 1, 1),
        [From("RG16").Value] = new([2], 1, 1),
        [From("R8  ").Value] = new([1], 1, 1),
        [From("NV12").Value] = new([1, 2], 2, 2),
        [From("YU12").Value] = new([1, 1, 1], 2, 2),
    };
}

/// <summary>How a format lays out its planes (drm_format_info's cpp, hsub, vsub).</summary>
/// <param name="BytesPerPixel">Bytes per pixel (per chroma sample for planes after the first), per plane.</param>
/// <param name="HorizontalSubsampling">Horizontal chroma subsampling of planes after the first.</param>
/// <param name="VerticalSubsampling">Vertical chroma subsampling of planes after the first.</param>
public sealed record DrmFormatInfo(IReadOnlyList<int> BytesPerPixel, int HorizontalSubsampling, int VerticalSubsampling)
{
    /// <summary>The number of planes.</summary>
    public int PlaneCount => BytesPerPixel.Count;

    /// <summary>The width in pixels of plane <paramref name="plane"/> for an image <paramref name="width"/> wide.</summary>
    public uint PlaneWidth(int plane, uint width) => plane == 0 ? width : (uint)((width + HorizontalSubsampling - 1) / HorizontalSubsampling);

    /// <summary>The height in rows of plane <paramref name="plane"/> for an image <paramref name="height"/> high.</summary>
    public uint PlaneHeight(int plane, uint height) => plane == 0 ? height : (uint)((height + VerticalSubsampling - 1) / VerticalSubsampling);
}
