using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A display mode as the kernel gives it (<c>struct drm_mode_modeinfo</c>): timings, refresh, flags, type and name.
/// Its bytes are the kernel's, so a mode read from a connector goes back unchanged into a <c>MODE_ID</c> blob
/// (<see cref="DrmDevice.CreatePropertyBlob(in DrmModeInfo)"/>).
/// </summary>
public readonly struct DrmModeInfo : IEquatable<DrmModeInfo>
{
    private readonly DrmMode.drm_mode_modeinfo _mode;

    internal DrmModeInfo(in DrmMode.drm_mode_modeinfo mode) => _mode = mode;

    /// <summary>The size of the kernel's structure in bytes (a <c>MODE_ID</c> blob's length).</summary>
    public static int Size => Marshal.SizeOf<DrmMode.drm_mode_modeinfo>();

    /// <summary>Pixel clock in kHz.</summary>
    public uint Clock => _mode.clock;

    /// <summary>Visible width in pixels.</summary>
    public ushort HDisplay => _mode.hdisplay;

    /// <summary>Horizontal sync start.</summary>
    public ushort HSyncStart => _mode.hsync_start;

    /// <summary>Horizontal sync end.</summary>
    public ushort HSyncEnd => _mode.hsync_end;

    /// <summary>Horizontal total.</summary>
    public ushort HTotal => _mode.htotal;

    /// <summary>Horizontal skew.</summary>
    public ushort HSkew => _mode.hskew;

    /// <summary>Visible height in lines.</summary>
    public ushort VDisplay => _mode.vdisplay;

    /// <summary>Vertical sync start.</summary>
    public ushort VSyncStart => _mode.vsync_start;

    /// <summary>Vertical sync end.</summary>
    public ushort VSyncEnd => _mode.vsync_end;

    /// <summary>Vertical total.</summary>
    public ushort VTotal => _mode.vtotal;

    /// <summary>Vertical scan.</summary>
    public ushort VScan => _mode.vscan;

    /// <summary>Approximate refresh rate in Hz.</summary>
    public uint VRefresh => _mode.vrefresh;

    /// <summary><c>DRM_MODE_FLAG_*</c> bits (sync polarity, interlace, aspect ratio, …).</summary>
    public uint Flags => _mode.flags;

    /// <summary><c>DRM_MODE_TYPE_*</c> bits.</summary>
    public uint Type => _mode.type;

    /// <summary>True when the connector prefers this mode (<c>DRM_MODE_TYPE_PREFERRED</c>).</summary>
    public bool IsPreferred => (_mode.type & DrmMode.DRM_MODE_TYPE_PREFERRED) != 0;

    /// <summary>The mode's name, such as <c>1024x768</c>.</summary>
    public string Name => DrmMode.NameOf(_mode);

    /// <summary>The kernel's bytes of this mode.</summary>
    [UnscopedRef]
    internal ReadOnlySpan<byte> AsBytes() => MemoryMarshal.AsBytes(new ReadOnlySpan<DrmMode.drm_mode_modeinfo>(in _mode));

    /// <summary>Reads a mode from the kernel's bytes (a <c>MODE_ID</c> blob's data).</summary>
    /// <exception cref="ArgumentException">The data is not <see cref="Size"/> bytes long.</exception>
    public static DrmModeInfo FromBytes(ReadOnlySpan<byte> data)
    {
        if (data.Length != Size)
        {
            throw new ArgumentException($"A drm_mode_modeinfo is {Size} bytes, not {data.Length}.", nameof(data));
        }

        return new DrmModeInfo(MemoryMarshal.Read<DrmMode.drm_mode_modeinfo>(data));
    }

    /// <inheritdoc/>
    public bool Equals(DrmModeInfo other) => AsBytes().SequenceEqual(other.AsBytes());

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is DrmModeInfo other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = default(HashCode);
        hash.AddBytes(AsBytes());
        return hash.ToHashCode();
    }

    /// <summary>Equal when every byte is.</summary>
    public static bool operator ==(DrmModeInfo left, DrmModeInfo right) => left.Equals(right);

    /// <summary>Different when any byte is.</summary>
    public static bool operator !=(DrmModeInfo left, DrmModeInfo right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {HDisplay}x{VDisplay}@{VRefresh} ({Clock} kHz)";
}
