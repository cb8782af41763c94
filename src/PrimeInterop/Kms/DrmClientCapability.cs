namespace PrimeInterop;

/// <summary>What a file tells the kernel it understands (<c>DRM_IOCTL_SET_CLIENT_CAP</c>, include/uapi/drm/drm.h).</summary>
public enum DrmClientCapability : ulong
{
    /// <summary><c>DRM_CLIENT_CAP_STEREO_3D</c>: stereo modes are listed.</summary>
    Stereo3D = Interop.Drm.DRM_CLIENT_CAP_STEREO_3D,

    /// <summary><c>DRM_CLIENT_CAP_UNIVERSAL_PLANES</c>: primary and cursor planes are listed with the overlays.</summary>
    UniversalPlanes = Interop.Drm.DRM_CLIENT_CAP_UNIVERSAL_PLANES,

    /// <summary>
    /// <c>DRM_CLIENT_CAP_ATOMIC</c>: atomic commits, and the atomic-only properties (<c>FB_ID</c>, <c>CRTC_ID</c>,
    /// <c>MODE_ID</c>, …) are listed. Implies <see cref="UniversalPlanes"/> and <see cref="AspectRatio"/>.
    /// </summary>
    Atomic = Interop.Drm.DRM_CLIENT_CAP_ATOMIC,

    /// <summary><c>DRM_CLIENT_CAP_ASPECT_RATIO</c>: modes carry their aspect ratio in their flags.</summary>
    AspectRatio = Interop.Drm.DRM_CLIENT_CAP_ASPECT_RATIO,

    /// <summary><c>DRM_CLIENT_CAP_WRITEBACK_CONNECTORS</c>: writeback connectors are listed; needs <see cref="Atomic"/> first.</summary>
    WritebackConnectors = Interop.Drm.DRM_CLIENT_CAP_WRITEBACK_CONNECTORS,
}
