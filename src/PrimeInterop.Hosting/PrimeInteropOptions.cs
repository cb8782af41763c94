namespace PrimeInterop.Hosting;

/// <summary>Which DRM device <see cref="IDrmDeviceFactory"/> opens when asked for the default one.</summary>
public sealed class PrimeInteropOptions
{
    /// <summary>A node path such as <c>/dev/dri/renderD128</c>; wins over <see cref="Driver"/> when set.</summary>
    public string? DevicePath { get; set; }

    /// <summary>A driver name such as <c>vgem</c> or <c>amdgpu</c>; null picks the first device that can import and export.</summary>
    public string? Driver { get; set; }

    /// <summary>The node type preferred when a device has both (render by default; dumb buffers need primary).</summary>
    public DrmNodeType NodeType { get; set; } = DrmNodeType.Render;
}
