namespace PrimeInterop;

/// <summary>Capabilities queried with <c>DRM_IOCTL_GET_CAP</c> (include/uapi/drm/drm.h).</summary>
public enum DrmCapability : ulong
{
    /// <summary><c>DRM_CAP_DUMB_BUFFER</c>.</summary>
    DumbBuffer = 0x1,

    /// <summary><c>DRM_CAP_VBLANK_HIGH_CRTC</c>.</summary>
    VBlankHighCrtc = 0x2,

    /// <summary><c>DRM_CAP_DUMB_PREFERRED_DEPTH</c>.</summary>
    DumbPreferredDepth = 0x3,

    /// <summary><c>DRM_CAP_DUMB_PREFER_SHADOW</c>.</summary>
    DumbPreferShadow = 0x4,

    /// <summary><c>DRM_CAP_PRIME</c>: see <see cref="PrimeCapabilities"/>.</summary>
    Prime = Interop.Drm.DRM_CAP_PRIME,

    /// <summary><c>DRM_CAP_TIMESTAMP_MONOTONIC</c>.</summary>
    TimestampMonotonic = 0x6,

    /// <summary><c>DRM_CAP_ASYNC_PAGE_FLIP</c>.</summary>
    AsyncPageFlip = 0x7,

    /// <summary><c>DRM_CAP_CURSOR_WIDTH</c>.</summary>
    CursorWidth = 0x8,

    /// <summary><c>DRM_CAP_CURSOR_HEIGHT</c>.</summary>
    CursorHeight = 0x9,

    /// <summary><c>DRM_CAP_ADDFB2_MODIFIERS</c>.</summary>
    AddFB2Modifiers = 0x10,

    /// <summary><c>DRM_CAP_PAGE_FLIP_TARGET</c>.</summary>
    PageFlipTarget = 0x11,

    /// <summary><c>DRM_CAP_CRTC_IN_VBLANK_EVENT</c>.</summary>
    CrtcInVBlankEvent = 0x12,

    /// <summary><c>DRM_CAP_SYNCOBJ</c>.</summary>
    SyncObj = 0x13,

    /// <summary><c>DRM_CAP_SYNCOBJ_TIMELINE</c>.</summary>
    SyncObjTimeline = 0x14,
}
