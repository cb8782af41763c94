using System.Buffers.Binary;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// vkms as a compositor sees it: the card opened first (so this file is DRM master), atomic and writeback turned on,
/// its CRTC, Virtual output, writeback connector and primary plane with their properties, and a small mode (640x480
/// when offered: under TCG every composed frame costs). vkms keeps plane state (rotation, …) after the file that set
/// it closes, so the scene turns everything off and unrotates every plane when it starts and when it is disposed.
/// </summary>
public sealed class VkmsScene : IDisposable
{
    private VkmsScene(DrmDevice card)
    {
        Card = card;
        Card.SetClientCapability(DrmClientCapability.Atomic);
        Card.SetClientCapability(DrmClientCapability.WritebackConnectors);
        Resources = Card.GetResources();
        Crtc = Card.GetCrtc(Resources.Crtcs[0]);
        CrtcProperties = Card.GetProperties(Crtc.Id, DrmObjectType.Crtc);
        var connectors = Resources.Connectors.Select(Card.GetConnector).ToList();
        Output = connectors.Single(c => c.Type == DrmConnectorType.Virtual);
        Writeback = connectors.Single(c => c.Type == DrmConnectorType.Writeback);
        OutputProperties = Card.GetProperties(Output.Id, DrmObjectType.Connector);
        WritebackProperties = Card.GetProperties(Writeback.Id, DrmObjectType.Connector);
        Planes = Card.GetPlanes();
        Primary = Planes.Single(p => p.Type == DrmPlaneType.Primary && p.CanUse(Crtc));
        PrimaryProperties = Card.GetProperties(Primary.Id, DrmObjectType.Plane);
        Mode = Output.Modes.FirstOrDefault(m => m.HDisplay == 640 && m.VDisplay == 480, Output.Modes.Single(m => m.IsPreferred));
        Reset();
    }

    public DrmDevice Card { get; }

    public DrmResources Resources { get; }

    public DrmCrtc Crtc { get; }

    public DrmObjectProperties CrtcProperties { get; }

    public DrmConnector Output { get; }

    public DrmObjectProperties OutputProperties { get; }

    public DrmConnector Writeback { get; }

    public DrmObjectProperties WritebackProperties { get; }

    public IReadOnlyList<DrmPlane> Planes { get; }

    public DrmPlane Primary { get; }

    public DrmObjectProperties PrimaryProperties { get; }

    public DrmModeInfo Mode { get; }

    public uint Width => Mode.HDisplay;

    public uint Height => Mode.VDisplay;

    /// <summary>Opens vkms (skipping where the kernel lacks it) and checks this process got DRM master.</summary>
    public static VkmsScene Open()
    {
        KernelEnv.RequireCapability("vkms");
        DrmDevice card = KernelEnv.OpenVkms();
        try
        {
            Assert.True(card.IsMaster, $"{card.Path} is not DRM master for this test: another process or open file holds it (a weston left running?)");
            return new VkmsScene(card);
        }
        catch
        {
            card.Dispose();
            throw;
        }
    }

    /// <summary>The CRTC on with the scene's mode (MODE_ID, ACTIVE), driving the Virtual output or, for writeback, nothing.</summary>
    public void AddModeset(DrmAtomicRequest request, DrmPropertyBlob mode, bool toOutput = true)
    {
        request.Add(CrtcProperties, "MODE_ID", mode.Id);
        request.Add(CrtcProperties, "ACTIVE", 1);
        request.Add(OutputProperties, "CRTC_ID", toOutput ? Crtc.Id : 0);
    }

    /// <summary>The primary plane showing all of <paramref name="fb"/> over the whole CRTC, with <paramref name="rotation"/> (rotate-0 when 0).</summary>
    public void AddPrimary(DrmAtomicRequest request, Framebuffer fb, ulong rotation = 0) =>
        AddPlane(request, PrimaryProperties, fb, 0, 0, Width, Height, rotation);

    /// <summary>A plane showing all of <paramref name="fb"/> (which is <paramref name="width"/> x <paramref name="height"/>) at (<paramref name="x"/>, <paramref name="y"/>) on the CRTC.</summary>
    public void AddPlane(DrmAtomicRequest request, DrmObjectProperties plane, Framebuffer fb, int x, int y, uint width, uint height, ulong rotation = 0)
    {
        request.Add(plane, "FB_ID", fb.Id);
        request.Add(plane, "CRTC_ID", Crtc.Id);
        request.Add(plane, "SRC_X", 0);
        request.Add(plane, "SRC_Y", 0);
        request.Add(plane, "SRC_W", (ulong)width << 16);
        request.Add(plane, "SRC_H", (ulong)height << 16);
        request.Add(plane, "CRTC_X", (ulong)(long)x);
        request.Add(plane, "CRTC_Y", (ulong)(long)y);
        request.Add(plane, "CRTC_W", width);
        request.Add(plane, "CRTC_H", height);
        request.Add(plane, "rotation", rotation == 0 ? plane.GetProperty("rotation").ValueOf("rotate-0") : rotation);
    }

    /// <summary>Commits with a page-flip event and returns the event, awaited through the library's poller.</summary>
    public async Task<DrmEvent> CommitAndAwaitFlipAsync(DrmAtomicRequest request, DrmAtomicCommitFlags flags, ulong userData)
    {
        Card.CommitAtomic(request, flags | DrmAtomicCommitFlags.PageFlipEvent, userData);
        DrmEvent flip = await Card.ReadEventAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        Assert.Equal((DrmEventType.FlipComplete, userData, Crtc.Id), (flip.Type, flip.UserData, flip.CrtcId));
        return flip;
    }

    /// <summary>A vkms dumb buffer of the mode's size, XRGB8888, each pixel <paramref name="pixel"/>(x, y).</summary>
    public DumbBuffer CreatePicture(Func<int, int, uint> pixel) => CreatePicture(Width, Height, pixel);

    /// <summary>A vkms dumb buffer of <paramref name="width"/> x <paramref name="height"/>, XRGB8888, each pixel <paramref name="pixel"/>(x, y).</summary>
    public DumbBuffer CreatePicture(uint width, uint height, Func<int, int, uint> pixel)
    {
        DumbBuffer dumb = Card.CreateDumbBuffer(width, height, 32);
        try
        {
            using var map = dumb.Map();
            using var access = map.BeginAccess();
            for (int y = 0; y < height; y++)
            {
                Span<byte> row = access.Span.Slice(y * (int)dumb.Pitch, (int)width * 4);
                for (int x = 0; x < width; x++)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(row[(x * 4)..], pixel(x, y));
                }
            }

            return dumb;
        }
        catch
        {
            dumb.Dispose();
            throw;
        }
    }

    /// <summary>A picture no flip maps onto itself: red counts x, green counts y, blue marks the top-left corner.</summary>
    public static uint Asymmetric(int x, int y) =>
        0xff000000u | ((uint)(x & 0xff) << 16) | ((uint)(y & 0xff) << 8) | (x < 32 && y < 32 ? 0xffu : 0x40u);

    /// <summary>Turns every plane off and unrotated, the CRTC off and every connector off it.</summary>
    public void Reset()
    {
        var request = new DrmAtomicRequest();
        foreach (DrmPlane plane in Planes)
        {
            DrmObjectProperties p = Card.GetProperties(plane.Id, DrmObjectType.Plane);
            request.Add(p, "FB_ID", 0);
            request.Add(p, "CRTC_ID", 0);
            if (p.TryGetProperty("rotation", out DrmProperty? rotation))
            {
                request.Add(plane.Id, rotation, rotation.ValueOf("rotate-0"));
            }
        }

        request.Add(CrtcProperties, "MODE_ID", 0);
        request.Add(CrtcProperties, "ACTIVE", 0);
        request.Add(OutputProperties, "CRTC_ID", 0);
        request.Add(WritebackProperties, "CRTC_ID", 0);
        Card.CommitAtomic(request, DrmAtomicCommitFlags.AllowModeset);
    }

    /// <summary>How many framebuffers exist on the device, every client's (debugfs's <c>framebuffer</c> list).</summary>
    public int DeviceFramebufferCount() =>
        File.ReadAllLines(Path.Combine(DrmCrcCapture.DebugFsDirectory(Card), "framebuffer")).Count(l => l.StartsWith("framebuffer[", StringComparison.Ordinal));

    /// <summary>This file has no framebuffer left (GETRESOURCES lists a file's own).</summary>
    public void AssertNoFramebuffers() => Assert.Empty(Card.GetResources().Framebuffers);

    public void Dispose()
    {
        try
        {
            Reset();
        }
        finally
        {
            Card.Dispose();
        }
    }
}
