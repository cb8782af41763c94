namespace PrimeInterop;

/// <summary>A connector (<c>DRM_IOCTL_MODE_GETCONNECTOR</c>): a display output, or a writeback connector.</summary>
public sealed class DrmConnector
{
    private static readonly string[] TypeNames =
    [
        "Unknown", "VGA", "DVI-I", "DVI-D", "DVI-A", "Composite", "SVIDEO", "LVDS", "Component", "DIN", "DP", "HDMI-A",
        "HDMI-B", "TV", "eDP", "Virtual", "DSI", "DPI", "Writeback", "SPI", "USB",
    ];

    internal DrmConnector(uint id, DrmConnectorType type, uint typeId, DrmConnectionStatus status, uint encoderId,
        DrmModeInfo[] modes, uint[] encoders, uint widthMm, uint heightMm, uint subpixel)
    {
        Id = id;
        Type = type;
        TypeId = typeId;
        Status = status;
        EncoderId = encoderId;
        Modes = Array.AsReadOnly(modes);
        Encoders = Array.AsReadOnly(encoders);
        WidthMm = widthMm;
        HeightMm = heightMm;
        Subpixel = subpixel;
    }

    /// <summary>The connector's object id.</summary>
    public uint Id { get; }

    /// <summary>What kind of connector it is.</summary>
    public DrmConnectorType Type { get; }

    /// <summary>Its number among connectors of its type (the 1 of <c>HDMI-A-1</c>).</summary>
    public uint TypeId { get; }

    /// <summary>The kernel's name for it, such as <c>Virtual-1</c> or <c>HDMI-A-2</c>.</summary>
    public string Name => $"{((uint)Type < TypeNames.Length ? TypeNames[(int)Type] : $"Type{(uint)Type}")}-{TypeId}";

    /// <summary>Whether a display is attached.</summary>
    public DrmConnectionStatus Status { get; }

    /// <summary>The encoder driving it now; 0 when none.</summary>
    public uint EncoderId { get; }

    /// <summary>The modes the display offers, as the kernel lists them (the preferred one has <see cref="DrmModeInfo.IsPreferred"/>).</summary>
    public IReadOnlyList<DrmModeInfo> Modes { get; }

    /// <summary>The ids of the encoders that can drive it.</summary>
    public IReadOnlyList<uint> Encoders { get; }

    /// <summary>The display's width in millimetres; 0 when unknown.</summary>
    public uint WidthMm { get; }

    /// <summary>The display's height in millimetres; 0 when unknown.</summary>
    public uint HeightMm { get; }

    /// <summary>The subpixel order (<c>enum subpixel_order</c>).</summary>
    public uint Subpixel { get; }

    /// <inheritdoc/>
    public override string ToString() => $"[CONNECTOR:{Id}:{Name}] {Status}, {Modes.Count} modes";
}

/// <summary>The kinds of connector (<c>DRM_MODE_CONNECTOR_*</c>).</summary>
public enum DrmConnectorType : uint
{
    /// <summary><c>DRM_MODE_CONNECTOR_Unknown</c>.</summary>
    Unknown = 0,

    /// <summary><c>DRM_MODE_CONNECTOR_VGA</c>.</summary>
    Vga = 1,

    /// <summary><c>DRM_MODE_CONNECTOR_DVII</c>.</summary>
    DviI = 2,

    /// <summary><c>DRM_MODE_CONNECTOR_DVID</c>.</summary>
    DviD = 3,

    /// <summary><c>DRM_MODE_CONNECTOR_DVIA</c>.</summary>
    DviA = 4,

    /// <summary><c>DRM_MODE_CONNECTOR_Composite</c>.</summary>
    Composite = 5,

    /// <summary><c>DRM_MODE_CONNECTOR_SVIDEO</c>.</summary>
    SVideo = 6,

    /// <summary><c>DRM_MODE_CONNECTOR_LVDS</c>.</summary>
    Lvds = 7,

    /// <summary><c>DRM_MODE_CONNECTOR_Component</c>.</summary>
    Component = 8,

    /// <summary><c>DRM_MODE_CONNECTOR_9PinDIN</c>.</summary>
    NinePinDin = 9,

    /// <summary><c>DRM_MODE_CONNECTOR_DisplayPort</c>.</summary>
    DisplayPort = 10,

    /// <summary><c>DRM_MODE_CONNECTOR_HDMIA</c>.</summary>
    HdmiA = 11,

    /// <summary><c>DRM_MODE_CONNECTOR_HDMIB</c>.</summary>
    HdmiB = 12,

    /// <summary><c>DRM_MODE_CONNECTOR_TV</c>.</summary>
    TV = 13,

    /// <summary><c>DRM_MODE_CONNECTOR_eDP</c>.</summary>
    EDP = 14,

    /// <summary><c>DRM_MODE_CONNECTOR_VIRTUAL</c> (vkms's output).</summary>
    Virtual = 15,

    /// <summary><c>DRM_MODE_CONNECTOR_DSI</c>.</summary>
    Dsi = 16,

    /// <summary><c>DRM_MODE_CONNECTOR_DPI</c>.</summary>
    Dpi = 17,

    /// <summary><c>DRM_MODE_CONNECTOR_WRITEBACK</c>: writes the CRTC's output into a framebuffer.</summary>
    Writeback = 18,

    /// <summary><c>DRM_MODE_CONNECTOR_SPI</c>.</summary>
    Spi = 19,

    /// <summary><c>DRM_MODE_CONNECTOR_USB</c>.</summary>
    Usb = 20,
}

/// <summary>Whether a display is attached to a connector (<c>enum drm_connector_status</c>).</summary>
public enum DrmConnectionStatus : uint
{
    /// <summary>Attached.</summary>
    Connected = 1,

    /// <summary>Not attached.</summary>
    Disconnected = 2,

    /// <summary>The driver cannot tell.</summary>
    Unknown = 3,
}
