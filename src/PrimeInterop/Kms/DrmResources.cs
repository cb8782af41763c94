namespace PrimeInterop;

/// <summary>
/// A device's KMS objects (<c>DRM_IOCTL_MODE_GETRESOURCES</c>): the ids of its CRTCs, connectors and encoders, the
/// framebuffers this open file made, and the framebuffer size limits. A snapshot: hotplug can add connectors later.
/// </summary>
public sealed class DrmResources
{
    internal DrmResources(uint[] framebuffers, uint[] crtcs, uint[] connectors, uint[] encoders, uint minWidth, uint maxWidth, uint minHeight, uint maxHeight)
    {
        Framebuffers = Array.AsReadOnly(framebuffers);
        Crtcs = Array.AsReadOnly(crtcs);
        Connectors = Array.AsReadOnly(connectors);
        Encoders = Array.AsReadOnly(encoders);
        MinWidth = minWidth;
        MaxWidth = maxWidth;
        MinHeight = minHeight;
        MaxHeight = maxHeight;
    }

    /// <summary>The ids of the framebuffers made through this open file (not other files' ones).</summary>
    public IReadOnlyList<uint> Framebuffers { get; }

    /// <summary>The CRTC ids, in index order: bit <c>i</c> of a <c>possible_crtcs</c> mask is <c>Crtcs[i]</c>.</summary>
    public IReadOnlyList<uint> Crtcs { get; }

    /// <summary>The connector ids (writeback connectors only with <see cref="DrmClientCapability.WritebackConnectors"/>).</summary>
    public IReadOnlyList<uint> Connectors { get; }

    /// <summary>The encoder ids.</summary>
    public IReadOnlyList<uint> Encoders { get; }

    /// <summary>The smallest framebuffer width the device takes.</summary>
    public uint MinWidth { get; }

    /// <summary>The largest framebuffer width the device takes.</summary>
    public uint MaxWidth { get; }

    /// <summary>The smallest framebuffer height the device takes.</summary>
    public uint MinHeight { get; }

    /// <summary>The largest framebuffer height the device takes.</summary>
    public uint MaxHeight { get; }
}
