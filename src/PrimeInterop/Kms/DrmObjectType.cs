namespace PrimeInterop;

/// <summary>The kinds of KMS object (<c>DRM_MODE_OBJECT_*</c>, include/uapi/drm/drm_mode.h).</summary>
public enum DrmObjectType : uint
{
    /// <summary><c>DRM_MODE_OBJECT_ANY</c>: whatever the id is.</summary>
    Any = Interop.DrmMode.DRM_MODE_OBJECT_ANY,

    /// <summary><c>DRM_MODE_OBJECT_CRTC</c>.</summary>
    Crtc = Interop.DrmMode.DRM_MODE_OBJECT_CRTC,

    /// <summary><c>DRM_MODE_OBJECT_CONNECTOR</c>.</summary>
    Connector = Interop.DrmMode.DRM_MODE_OBJECT_CONNECTOR,

    /// <summary><c>DRM_MODE_OBJECT_ENCODER</c>.</summary>
    Encoder = Interop.DrmMode.DRM_MODE_OBJECT_ENCODER,

    /// <summary><c>DRM_MODE_OBJECT_MODE</c>.</summary>
    Mode = Interop.DrmMode.DRM_MODE_OBJECT_MODE,

    /// <summary><c>DRM_MODE_OBJECT_PROPERTY</c>.</summary>
    Property = Interop.DrmMode.DRM_MODE_OBJECT_PROPERTY,

    /// <summary><c>DRM_MODE_OBJECT_FB</c>.</summary>
    Framebuffer = Interop.DrmMode.DRM_MODE_OBJECT_FB,

    /// <summary><c>DRM_MODE_OBJECT_BLOB</c>.</summary>
    Blob = Interop.DrmMode.DRM_MODE_OBJECT_BLOB,

    /// <summary><c>DRM_MODE_OBJECT_PLANE</c>.</summary>
    Plane = Interop.DrmMode.DRM_MODE_OBJECT_PLANE,
}
