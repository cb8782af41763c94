using PrimeInterop;

namespace PrimeComp;

/// <summary>
/// One CRTC of the card and what drives it: its output connector and mode, the planes that can show surfaces
/// (primary first, then the overlays), and the writeback connector when the driver has one. Builds the atomic
/// requests the repaint loop commits. vkms keeps plane state (rotation, position) after the file that set it is
/// closed, so the output turns every plane off and unrotated when it starts and when it is disposed.
/// </summary>
internal sealed class Output : IDisposable
{
    private readonly PlaneProperties[] _planes;

    public Output(DrmDevice card)
    {
        Card = card;
        Card.SetClientCapability(DrmClientCapability.Atomic);
        Card.SetClientCapability(DrmClientCapability.WritebackConnectors);
        Resources = Card.GetResources();
        Crtc = Card.GetCrtc(Resources.Crtcs[0]);
        CrtcProperties = Card.GetProperties(Crtc.Id, DrmObjectType.Crtc);
        var connectors = Resources.Connectors.Select(Card.GetConnector).ToList();
        Connector = connectors.First(c => c.Type != DrmConnectorType.Writeback && c.Status == DrmConnectionStatus.Connected);
        ConnectorProperties = Card.GetProperties(Connector.Id, DrmObjectType.Connector);
        Writeback = connectors.FirstOrDefault(c => c.Type == DrmConnectorType.Writeback);
        WritebackProperties = Writeback is null ? null : Card.GetProperties(Writeback.Id, DrmObjectType.Connector);
        // 640x480 when offered: under an emulator every composed pixel costs.
        Mode = Connector.Modes.FirstOrDefault(m => m.HDisplay == 640 && m.VDisplay == 480, Connector.Modes.First(m => m.IsPreferred));
        IReadOnlyList<DrmPlane> all = Card.GetPlanes();
        Planes = [.. all.Where(p => p.Type == DrmPlaneType.Primary && p.CanUse(Crtc)), .. all.Where(p => p.Type == DrmPlaneType.Overlay && p.CanUse(Crtc))];
        AllPlaneProperties = [.. all.Select(p => Card.GetProperties(p.Id, DrmObjectType.Plane))];
        _planes = [.. Planes.Select(p => new PlaneProperties(AllPlaneProperties.Single(a => a.ObjectId == p.Id)))];
        ModeBlob = Card.CreatePropertyBlob(Mode);
        Reset();
    }

    public DrmDevice Card { get; }

    public DrmResources Resources { get; }

    public DrmCrtc Crtc { get; }

    public DrmObjectProperties CrtcProperties { get; }

    public DrmConnector Connector { get; }

    public DrmObjectProperties ConnectorProperties { get; }

    public DrmConnector? Writeback { get; }

    public DrmObjectProperties? WritebackProperties { get; }

    public DrmModeInfo Mode { get; }

    public DrmPropertyBlob ModeBlob { get; }

    public int Width => Mode.HDisplay;

    public int Height => Mode.VDisplay;

    /// <summary>The planes surfaces go on, in order: the primary, then the overlays.</summary>
    public IReadOnlyList<DrmPlane> Planes { get; }

    /// <summary>Every plane of the card, cursor included, for <see cref="Reset"/>.</summary>
    public IReadOnlyList<DrmObjectProperties> AllPlaneProperties { get; }

    /// <summary>True once the CRTC is on with <see cref="Mode"/> for the output connector.</summary>
    public bool IsOn { get; private set; }

    /// <summary>The CRTC on with the output's mode, driving the output connector (and no writeback).</summary>
    public void AddModeset(DrmAtomicRequest request)
    {
        request.Add(CrtcProperties, "MODE_ID", ModeBlob.Id);
        request.Add(CrtcProperties, "ACTIVE", 1);
        request.Add(ConnectorProperties, "CRTC_ID", Crtc.Id);
        if (WritebackProperties is not null)
        {
            request.Add(WritebackProperties, "CRTC_ID", 0);
        }
    }

    /// <summary>Plane <paramref name="index"/> shows all of <paramref name="fb"/> (w x h) at (x, y), mirrored top to bottom when <paramref name="reflectY"/>.</summary>
    public void AddPlane(DrmAtomicRequest request, int index, Framebuffer fb, int x, int y, uint width, uint height, bool reflectY)
    {
        PlaneProperties p = _planes[index];
        request.Add(p.Id, p.FbId, fb.Id);
        request.Add(p.Id, p.CrtcId, Crtc.Id);
        request.Add(p.Id, p.SrcX, 0);
        request.Add(p.Id, p.SrcY, 0);
        request.Add(p.Id, p.SrcW, (ulong)width << 16); // 16.16 fixed point
        request.Add(p.Id, p.SrcH, (ulong)height << 16);
        request.Add(p.Id, p.CrtcX, unchecked((ulong)(long)x));
        request.Add(p.Id, p.CrtcY, unchecked((ulong)(long)y));
        request.Add(p.Id, p.CrtcW, width);
        request.Add(p.Id, p.CrtcH, height);
        request.Add(p.Id, p.Rotation, p.Rotate0 | (reflectY ? p.ReflectY : 0));
    }

    /// <summary>Plane <paramref name="index"/> off, unrotated.</summary>
    public void AddPlaneOff(DrmAtomicRequest request, int index)
    {
        PlaneProperties p = _planes[index];
        request.Add(p.Id, p.FbId, 0);
        request.Add(p.Id, p.CrtcId, 0);
        request.Add(p.Id, p.Rotation, p.Rotate0);
    }

    /// <summary>Records that a commit with <see cref="AddModeset"/> succeeded (or that another state replaced it).</summary>
    public void SetOn(bool on) => IsOn = on;

    /// <summary>Every plane off and unrotated, the CRTC off, every connector off it (a blocking modeset).</summary>
    public void Reset()
    {
        var request = new DrmAtomicRequest();
        foreach (DrmObjectProperties p in AllPlaneProperties)
        {
            request.Add(p, "FB_ID", 0);
            request.Add(p, "CRTC_ID", 0);
            if (p.TryGetProperty("rotation", out DrmProperty? rotation))
            {
                request.Add(p.ObjectId, rotation, rotation.ValueOf("rotate-0"));
            }
        }

        request.Add(CrtcProperties, "MODE_ID", 0);
        request.Add(CrtcProperties, "ACTIVE", 0);
        request.Add(ConnectorProperties, "CRTC_ID", 0);
        if (WritebackProperties is not null)
        {
            request.Add(WritebackProperties, "CRTC_ID", 0);
        }

        Card.CommitAtomic(request, DrmAtomicCommitFlags.AllowModeset);
        IsOn = false;
    }

    public void Dispose()
    {
        try
        {
            Reset();
        }
        finally
        {
            ModeBlob.Dispose();
        }
    }
}

/// <summary>A plane's properties a frame sets, looked up by name once (a frame's commit then allocates nothing).</summary>
internal sealed class PlaneProperties(DrmObjectProperties plane)
{
    public uint Id { get; } = plane.ObjectId;

    public DrmProperty FbId { get; } = plane.GetProperty("FB_ID");

    public DrmProperty CrtcId { get; } = plane.GetProperty("CRTC_ID");

    public DrmProperty SrcX { get; } = plane.GetProperty("SRC_X");

    public DrmProperty SrcY { get; } = plane.GetProperty("SRC_Y");

    public DrmProperty SrcW { get; } = plane.GetProperty("SRC_W");

    public DrmProperty SrcH { get; } = plane.GetProperty("SRC_H");

    public DrmProperty CrtcX { get; } = plane.GetProperty("CRTC_X");

    public DrmProperty CrtcY { get; } = plane.GetProperty("CRTC_Y");

    public DrmProperty CrtcW { get; } = plane.GetProperty("CRTC_W");

    public DrmProperty CrtcH { get; } = plane.GetProperty("CRTC_H");

    public DrmProperty Rotation { get; } = plane.GetProperty("rotation");

    public ulong Rotate0 { get; } = plane.GetProperty("rotation").ValueOf("rotate-0");

    public ulong ReflectY { get; } = plane.GetProperty("rotation").ValueOf("reflect-y");
}
