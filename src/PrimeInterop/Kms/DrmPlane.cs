namespace PrimeInterop;

/// <summary>A plane (<c>DRM_IOCTL_MODE_GETPLANE</c> and its <c>type</c> property): a layer a CRTC scans out.</summary>
public sealed class DrmPlane
{
    internal DrmPlane(uint id, DrmPlaneType type, uint crtcId, uint framebufferId, uint possibleCrtcs, uint gammaSize, DrmFourcc[] formats)
    {
        Id = id;
        Type = type;
        CrtcId = crtcId;
        FramebufferId = framebufferId;
        PossibleCrtcs = possibleCrtcs;
        GammaSize = gammaSize;
        Formats = Array.AsReadOnly(formats);
    }

    /// <summary>The plane's object id.</summary>
    public uint Id { get; }

    /// <summary>Primary, overlay or cursor (its immutable <c>type</c> property).</summary>
    public DrmPlaneType Type { get; }

    /// <summary>The CRTC it is on now; 0 when none.</summary>
    public uint CrtcId { get; }

    /// <summary>The framebuffer it shows now; 0 when none.</summary>
    public uint FramebufferId { get; }

    /// <summary>Bit <c>i</c>: the plane can be used with CRTC index <c>i</c> (<see cref="DrmCrtc.Index"/>).</summary>
    public uint PossibleCrtcs { get; }

    /// <summary>The size of its gamma table.</summary>
    public uint GammaSize { get; }

    /// <summary>The pixel formats it scans out (for modifiers, read its <c>IN_FORMATS</c> blob: <see cref="DrmFormat.ParseInFormats"/>).</summary>
    public IReadOnlyList<DrmFourcc> Formats { get; }

    /// <summary>Whether the plane can be used with <paramref name="crtc"/>.</summary>
    public bool CanUse(DrmCrtc crtc)
    {
        ArgumentNullException.ThrowIfNull(crtc);
        return crtc.IsIn(PossibleCrtcs);
    }

    /// <inheritdoc/>
    public override string ToString() => $"[PLANE:{Id}] {Type}, {Formats.Count} formats";
}

/// <summary>A plane's role (its <c>type</c> property; <c>enum drm_plane_type</c>).</summary>
public enum DrmPlaneType
{
    /// <summary>An overlay plane (<c>DRM_PLANE_TYPE_OVERLAY</c>).</summary>
    Overlay = 0,

    /// <summary>The CRTC's main plane (<c>DRM_PLANE_TYPE_PRIMARY</c>).</summary>
    Primary = 1,

    /// <summary>A cursor plane (<c>DRM_PLANE_TYPE_CURSOR</c>).</summary>
    Cursor = 2,
}
