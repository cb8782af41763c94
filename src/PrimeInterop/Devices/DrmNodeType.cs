namespace PrimeInterop;

/// <summary>The kind of DRM device node.</summary>
public enum DrmNodeType
{
    /// <summary>A primary node, <c>/dev/dri/cardN</c>: modesetting and dumb buffers; may become DRM master.</summary>
    Primary,

    /// <summary>A render node, <c>/dev/dri/renderDN</c>: rendering and PRIME only, no modesetting, no authentication.</summary>
    Render,
}
