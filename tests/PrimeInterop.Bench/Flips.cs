using System.Diagnostics;

namespace PrimeInterop.Bench;

/// <summary>
/// The flip group's scene, a compositor's steady state on vkms: this process DRM master of vkms, the CRTC on with a
/// 640x480 mode, and two vgem buffers (a client's, as the compositor gets them: dma-bufs made by another device)
/// imported into vkms as framebuffers, which the frames alternate between on the primary plane. Each frame first
/// waits for its buffer's implicit fence, a vgem write fence that the peer thread signals (as wait-1).
/// </summary>
internal sealed class Flips : IDisposable
{
    private const DrmAtomicCommitFlags FrameFlags = DrmAtomicCommitFlags.Nonblock | DrmAtomicCommitFlags.PageFlipEvent;

    private readonly DrmDevice _vgem;
    private readonly DrmDevice _kms;
    private readonly DumbBuffer[] _dumbs = new DumbBuffer[2];
    private readonly DmaBufDescription[] _descriptions = new DmaBufDescription[2];
    private readonly ImportedBuffer[] _imported = new ImportedBuffer[2];
    private readonly Framebuffer[] _framebuffers = new Framebuffer[2];
    private readonly DrmAtomicRequest _frame = new();
    private readonly DrmAtomicRequest _off = new();
    private readonly DrmProperty _fbId;

    private Flips(DrmDevice vgem, DrmDevice kms)
    {
        _vgem = vgem;
        _kms = kms;
        if (!_kms.IsMaster)
        {
            throw new InvalidOperationException($"bench: {_kms.Path} is not DRM master: another process holds it");
        }

        _kms.SetClientCapability(DrmClientCapability.Atomic);
        DrmResources resources = _kms.GetResources();
        DrmCrtc crtc = _kms.GetCrtc(resources.Crtcs[0]);
        DrmConnector output = resources.Connectors.Select(_kms.GetConnector).First(c => c.Type == DrmConnectorType.Virtual);
        DrmModeInfo mode = output.Modes.FirstOrDefault(m => m.HDisplay == 640 && m.VDisplay == 480, output.Modes.First(m => m.IsPreferred));
        Plane = _kms.GetPlanes().First(p => p.Type == DrmPlaneType.Primary && p.CanUse(crtc)).Id;
        DrmObjectProperties plane = _kms.GetProperties(Plane, DrmObjectType.Plane);
        DrmObjectProperties crtcProperties = _kms.GetProperties(crtc.Id, DrmObjectType.Crtc);
        DrmObjectProperties outputProperties = _kms.GetProperties(output.Id, DrmObjectType.Connector);
        _fbId = plane.GetProperty("FB_ID");
        Buffers = new DmaBuf[2];
        Handles = new uint[2];
        Fds = new int[2];
        for (int k = 0; k < 2; k++)
        {
            _dumbs[k] = _vgem.CreateDumbBuffer(mode.HDisplay, mode.VDisplay, 32);
            _descriptions[k] = new DmaBufDescription(mode.HDisplay, mode.VDisplay, DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier,
                [new DmaBufPlane(_vgem.ExportDmaBuf(_dumbs[k].Handle), 0, _dumbs[k].Pitch)]);
            _imported[k] = _kms.ImportBuffer(_descriptions[k]);
            _framebuffers[k] = _kms.AddFramebuffer(_imported[k]);
            Buffers[k] = _descriptions[k].Planes[0].Buffer;
            Handles[k] = _dumbs[k].Handle.Value;
            Fds[k] = Buffers[k].FileDescriptor;
        }

        Framebuffers = [_framebuffers[0].Id, _framebuffers[1].Id];
        using DrmPropertyBlob modeBlob = _kms.CreatePropertyBlob(mode);
        var on = new DrmAtomicRequest();
        on.Add(outputProperties, "CRTC_ID", crtc.Id);
        on.Add(crtcProperties, "MODE_ID", modeBlob.Id);
        on.Add(crtcProperties, "ACTIVE", 1);
        on.Add(plane, "FB_ID", Framebuffers[1]);
        on.Add(plane, "CRTC_ID", crtc.Id);
        on.Add(plane, "SRC_W", (ulong)mode.HDisplay << 16);
        on.Add(plane, "SRC_H", (ulong)mode.VDisplay << 16);
        on.Add(plane, "CRTC_W", mode.HDisplay);
        on.Add(plane, "CRTC_H", mode.VDisplay);
        _kms.CommitAtomic(on, DrmAtomicCommitFlags.AllowModeset | DrmAtomicCommitFlags.PageFlipEvent);
        _kms.ReadEventAsync(TimeSpan.FromSeconds(30)).AsTask().GetAwaiter().GetResult();

        // vkms keeps a plane's state after the file that set it closes: the scene turns it all off again.
        _off.Add(plane, "FB_ID", 0);
        _off.Add(plane, "CRTC_ID", 0);
        _off.Add(crtcProperties, "MODE_ID", 0);
        _off.Add(crtcProperties, "ACTIVE", 0);
        _off.Add(outputProperties, "CRTC_ID", 0);
    }

    /// <summary>The vgem buffers' dma-bufs, their vgem handles (for fences) and fd numbers (for C).</summary>
    public DmaBuf[] Buffers { get; }

    public uint[] Handles { get; }

    public int[] Fds { get; }

    /// <summary>The framebuffers of the two buffers on vkms.</summary>
    public uint[] Framebuffers { get; }

    public uint Plane { get; }

    public uint FbIdProperty => _fbId.Id;

    public int KmsFd => (int)_kms.FileHandle.DangerousGetHandle();

    /// <summary>
    /// The scene, or null with the reason when this kernel has no vkms (kernel B). In the rig a kernel that should
    /// have vkms and does not is an error, not a path to leave out.
    /// </summary>
    public static Flips? Open(DrmDevice vgem, out string? unavailable)
    {
        unavailable = null;
        if (!DrmNode.Enumerate().Any(n => n.DriverName == "vkms" && n.Type == DrmNodeType.Primary))
        {
            bool lacks = (Environment.GetEnvironmentVariable("PRIMEINTEROP_RIG_LACKS") ?? "").Split(' ').Contains("vkms");
            if (Environment.GetEnvironmentVariable("PRIMEINTEROP_RIG") == "1" && !lacks)
            {
                throw new InvalidOperationException("bench: this rig kernel should have vkms and has none");
            }

            unavailable = "this kernel lacks vkms";
            return null;
        }

        DrmDevice kms = DrmDevice.OpenByDriver("vkms", DrmNodeType.Primary);
        try
        {
            return new Flips(vgem, kms);
        }
        catch
        {
            kms.Dispose();
            throw;
        }
    }

    /// <summary>
    /// n frames through the library, as C's pb_flip: wait-1's fence wait (WaitReadyAsync) on buffer i % 2, its
    /// framebuffer committed (CommitAtomic of a reused request), the page-flip event awaited (ReadEventAsync). One
    /// frame more first, outside the figures: it makes this loop's own state machine.
    /// </summary>
    /// <returns>Per frame: guest ns, the CPU time of every process (ns), managed bytes (every thread's), minor page faults.</returns>
    public async Task<(double Wall, double Busy, double Bytes, double Faults)> RunAsync(NativeLoops native, int card, int n)
    {
        long t0 = 0, a0 = 0, f0 = 0;
        double b0 = 0;
        for (int i = 0; i <= n; i++)
        {
            if (i == 1)
            {
                a0 = GC.GetTotalAllocatedBytes(precise: true);
                f0 = Floor.MinorFaults(wholeProcess: true); // the frames move between threads
                b0 = native.BusyNs();
                t0 = Stopwatch.GetTimestamp();
            }

            int k = i & 1;
            uint fence = native.FenceAttach(card, Handles[k]);
#pragma warning disable CA2012 // awaited once, below: armed before the fence goes to the peer, as C arms before it hands over
            ValueTask ready = Buffers[k].WaitReadyAsync(DmaBufAccess.Read);
#pragma warning restore CA2012
            native.PeerSignal(new ReadOnlySpan<uint>(in fence));
            await ready.ConfigureAwait(false);

            _frame.Clear();
            _frame.Add(Plane, _fbId, Framebuffers[k]);
            _kms.CommitAtomic(_frame, FrameFlags, (ulong)i + 1);
            DrmEvent flip = await _kms.ReadEventAsync(CancellationToken.None).ConfigureAwait(false);
            if (flip.Type != DrmEventType.FlipComplete || flip.UserData != (ulong)i + 1)
            {
                throw new InvalidOperationException($"bench: frame {i + 1} got {flip}");
            }
        }

        double wall = Stopwatch.GetElapsedTime(t0).TotalNanoseconds, busy = native.BusyNs() - b0;
        long faults = Floor.MinorFaults(wholeProcess: true) - f0, bytes = GC.GetTotalAllocatedBytes(precise: true) - a0;
        return (wall / n, busy / n, bytes / (double)n, faults * 1000.0 / n);
    }

    public void Dispose()
    {
        _kms.CommitAtomic(_off, DrmAtomicCommitFlags.AllowModeset);
        for (int k = 0; k < 2; k++)
        {
            _framebuffers[k].Dispose();
            _imported[k].Dispose();
            _descriptions[k].Dispose();
            _dumbs[k].Dispose();
        }

        _kms.Dispose();
    }
}
