namespace PrimeInterop;

/// <summary>The kind of DRM device node.</summary>
public enum DrmNodeType
{
    /// <summary>A primary node, <c>/dev/dri/cardN</c>: modesetting and dumb buffers; may become DRM master.</summary>
    Primary,

    /// <summary>A render node, <c>/dev/dri/renderDN</c>: rendering and PRIME only, no modesetting, no authentication.</summary>
    Render,
}

/// <summary>What <c>DRM_IOCTL_VERSION</c> reports about the driver behind a node.</summary>
/// <param name="Major">Driver major version.</param>
/// <param name="Minor">Driver minor version.</param>
/// <param name="Patch">Driver patch level.</param>
/// <param name="Name">Driver name, such as <c>vgem</c>, <c>vkms</c>, <c>i915</c>, <c>amdgpu</c>.</param>
/// <param name="Date">Driver date string.</param>
/// <param name="Description">Driver description.</param>
public sealed record DrmVersion(int Major, int Minor, int Patch, string Name, string Date, string Description)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name} {Major}.{Minor}.{Patch}";
}

/// <summary>The <c>DRM_CAP_PRIME</c> bits: whether a driver can import and/or export dma-bufs.</summary>
[Flags]
public enum PrimeCapabilities
{
    /// <summary>Neither import nor export.</summary>
    None = 0,

    /// <summary><c>DRM_PRIME_CAP_IMPORT</c>: the driver turns dma-buf fds into GEM handles.</summary>
    Import = Interop.Drm.DRM_PRIME_CAP_IMPORT,

    /// <summary><c>DRM_PRIME_CAP_EXPORT</c>: the driver turns GEM handles into dma-buf fds.</summary>
    Export = Interop.Drm.DRM_PRIME_CAP_EXPORT,
}

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

/// <summary>Flags for exporting a GEM handle as a dma-buf. The fd is always close-on-exec.</summary>
[Flags]
public enum DmaBufExportFlags
{
    /// <summary>A read-only mapping fd (the kernel default).</summary>
    None = 0,

    /// <summary><c>DRM_RDWR</c>: the dma-buf fd can be mapped writable.</summary>
    ReadWrite = 0x2,
}

/// <summary>Which way the CPU touches a dma-buf mapping; picks the <c>DMA_BUF_SYNC_*</c> flags.</summary>
[Flags]
public enum DmaBufAccess
{
    /// <summary>The CPU reads.</summary>
    Read = 1,

    /// <summary>The CPU writes.</summary>
    Write = 2,

    /// <summary>The CPU reads and writes.</summary>
    ReadWrite = Read | Write,
}
