namespace PrimeInterop;

/// <summary>A CRTC (<c>DRM_IOCTL_MODE_GETCRTC</c>): a scan-out engine, with its current mode if it has one.</summary>
public sealed class DrmCrtc
{
    internal DrmCrtc(uint id, int index, uint framebufferId, uint x, uint y, uint gammaSize, DrmModeInfo? mode)
    {
        Id = id;
        Index = index;
        FramebufferId = framebufferId;
        X = x;
        Y = y;
        GammaSize = gammaSize;
        Mode = mode;
    }

    /// <summary>The CRTC's object id.</summary>
    public uint Id { get; }

    /// <summary>Its index among the device's CRTCs: the bit of it in <c>possible_crtcs</c> masks, and the N of debugfs's <c>crtc-N</c>.</summary>
    public int Index { get; }

    /// <summary>The framebuffer of its primary plane now; 0 when none (or not visible to this file).</summary>
    public uint FramebufferId { get; }

    /// <summary>The x offset of the scan-out in the primary plane's framebuffer.</summary>
    public uint X { get; }

    /// <summary>The y offset of the scan-out in the primary plane's framebuffer.</summary>
    public uint Y { get; }

    /// <summary>The size of its gamma table.</summary>
    public uint GammaSize { get; }

    /// <summary>Its current mode; null while it is off.</summary>
    public DrmModeInfo? Mode { get; }

    /// <summary>Whether a plane that can use the CRTCs in <paramref name="possibleCrtcs"/> (a plane's or encoder's mask) can use this one.</summary>
    public bool IsIn(uint possibleCrtcs) => Index < 32 && (possibleCrtcs & (1u << Index)) != 0;

    /// <inheritdoc/>
    public override string ToString() => $"[CRTC:{Id}] index {Index}, {(Mode is { } m ? m.ToString() : "off")}";
}
