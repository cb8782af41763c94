using System.Buffers.Binary;
using PrimeInterop;

namespace PrimeComp.Verification;

/// <summary>
/// Proves, frame by frame, that what is on the screen is what the clients drew: (a) each buffer new on the screen is
/// mapped (through its dma-buf, with DMA_BUF_IOCTL_SYNC) and its picture checked; (b) the CRTC's CRC of the frame
/// equals the CRC of the same plane state with vkms dumb buffers filled from those mapped bytes (made once per
/// distinct picture and layout); (c) on demand, <see cref="WritebackAsync"/> scans one buffer out alone and compares
/// the writeback connector's bytes with its mapped pixels. Runs on the compositor's thread, inside its repaint loop.
/// </summary>
internal sealed class FrameVerifier : IFrameObserver, IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly Compositor _compositor;
    private readonly List<Picture> _pictures = []; // each distinct content seen, with its copy on the card
    private readonly Dictionary<Surface, Picture> _showing = [];
    private readonly Dictionary<string, DrmCrc> _references = []; // plane state and pictures -> the CRC of their copies
    private readonly DrmAtomicRequest _request = new();
    private DrmCrcCapture? _capture;
    private ulong _referenceTag = 1UL << 62; // user data of the reference commits, apart from the frames'
    private (Func<bool> Condition, TaskCompletionSource Done)? _condition;

    public FrameVerifier(Compositor compositor) => _compositor = compositor;

    /// <summary>
    /// False: frames go by unchecked (the allocation measurement's frames). The CRC capture is then closed at the next
    /// flip, between reads (vkms's CRC queue would overflow unread).
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Frames checked per surface (a new buffer on the screen whose picture and CRC matched).</summary>
    public Dictionary<Surface, int> Verified { get; } = [];

    /// <summary>CRCs of frames compared with their reference.</summary>
    public int CrcMatches { get; private set; }

    /// <summary>Reference commits made (one per distinct picture and layout).</summary>
    public int ReferenceCommits { get; private set; }

    /// <summary>What did not match, in order: the run fails when there is any.</summary>
    public List<string> Problems { get; } = [];

    /// <summary>Where the last writeback first differed from the mapped pixels, when it did.</summary>
    public string? FirstWritebackDifference { get; private set; }

    /// <summary>The CRC of the last verified frame, for the report.</summary>
    public DrmCrc? LastCrc { get; private set; }

    /// <summary>
    /// Completes (on the compositor's thread) after the first flip at which <paramref name="condition"/> holds; fails
    /// when a frame did not verify. Checked at every flip, verified or not, so that waiting for frames needs no polling.
    /// </summary>
    public Task WhenAsync(Func<bool> condition)
    {
        _condition = (condition, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        return _condition.Value.Done.Task;
    }

    public async ValueTask OnFlipAsync(DrmEvent flip, IReadOnlyList<Surface> shown, IReadOnlyList<Surface> fresh)
    {
        if (Enabled)
        {
            await VerifyAsync(flip, shown, fresh);
        }
        else
        {
            _capture?.Dispose();
            _capture = null;
        }

        if (_condition is var (condition, done))
        {
            if (Problems.Count > 0)
            {
                done.TrySetException(new InvalidOperationException(Problems[0]));
            }
            else if (condition())
            {
                _condition = null;
                done.TrySetResult();
            }
        }
    }

    private async ValueTask VerifyAsync(DrmEvent flip, IReadOnlyList<Surface> shown, IReadOnlyList<Surface> fresh)
    {
        Output output = _compositor.Output;
        foreach (Surface s in fresh)
        {
            _showing[s] = Find(s.OnScreen!);
        }

        _capture ??= _compositor.Card.OpenCrcCapture(output.Crtc);
        DrmCrc crc = await _capture.ReadAfterAsync(flip.Sequence, Patience);
        string key = string.Join(";", shown.Select(s => $"{s.Placement.Plane}@{s.Placement.X},{s.Placement.Y}:{_showing[s].Id}{(s.OnScreen!.YInvert ? "/y" : "")}"));
        if (!_references.TryGetValue(key, out DrmCrc? reference))
        {
            // The same plane state with copies of the mapped pixels: what the CRC must be if the screen shows them.
            _request.Clear();
            for (int i = 0; i < output.Planes.Count; i++)
            {
                Surface? s = shown.FirstOrDefault(x => x.Placement.Plane == i);
                if (s is null)
                {
                    output.AddPlaneOff(_request, i);
                }
                else
                {
                    Picture p = _showing[s];
                    output.AddPlane(_request, i, p.Framebuffer, s.Placement.X, s.Placement.Y, (uint)p.Width, (uint)p.Height, s.OnScreen!.YInvert);
                }
            }

            ulong tag = ++_referenceTag;
            _compositor.Card.CommitAtomic(_request, DrmAtomicCommitFlags.Nonblock | DrmAtomicCommitFlags.PageFlipEvent, tag);
            DrmEvent shownCopies = await _compositor.ReadFlipAsync(tag);
            reference = await _capture.ReadAfterAsync(shownCopies.Sequence, Patience);
            _references[key] = reference;
            ReferenceCommits++;
        }

        LastCrc = crc;
        if (!crc.SameValues(reference))
        {
            Problems.Add($"frame at vblank {flip.Sequence}: the CRC {crc} is not {reference}, the CRC of the mapped pixels under the same planes ({key})");
            return;
        }

        CrcMatches++;
        foreach (Surface s in fresh)
        {
            if (_showing[s].Problem is null)
            {
                Verified[s] = Verified.GetValueOrDefault(s) + 1;
            }
        }
    }

    /// <summary>
    /// (c): <paramref name="surface"/>'s buffer alone on the primary plane, unrotated, over a CRTC of exactly its size
    /// (a mode made for it), written back by the writeback connector; then every pixel compared with the buffer's
    /// mapped pixels (all of its bits; for XRGB8888 the x byte, padding, is not part of the pixel). vkms refuses writeback while the output connector is on the CRTC and must not write back a plane
    /// that does not cover the CRTC (6.12 oopses), so every other plane is off. Returns the rows that differ.
    /// </summary>
    public async Task<(int Differing, int Rows)> WritebackAsync(Surface surface)
    {
        Output output = _compositor.Output;
        DrmDevice card = _compositor.Card;
        using IDisposable hold = await _compositor.HoldOutputAsync(); // no frame changes the screen meanwhile
        ClientBuffer buffer = surface.OnScreen ?? throw new InvalidOperationException($"{surface} is not on the screen");
        FirstWritebackDifference = null;
        var props = output.WritebackProperties ?? throw new InvalidOperationException($"{card.Path} has no writeback connector");
        int w = (int)buffer.Width, h = (int)buffer.Height;
        byte[] expected = Read(buffer);
        _capture?.Dispose(); // its CRTC changes mode
        _capture = null;
        using var mode = card.CreatePropertyBlob(Modes.Make(w, h));
        using var target = card.CreateDumbBuffer((uint)w, (uint)h, 32);
        using var targetFb = card.AddFramebuffer(target, buffer.Description.Format);
        var request = new DrmAtomicRequest();
        request.Add(output.CrtcProperties, "MODE_ID", mode.Id);
        request.Add(output.CrtcProperties, "ACTIVE", 1);
        request.Add(output.ConnectorProperties, "CRTC_ID", 0);
        for (int i = 0; i < output.Planes.Count; i++)
        {
            output.AddPlaneOff(request, i);
        }

        output.AddPlane(request, 0, buffer.Framebuffer, 0, 0, (uint)w, (uint)h, reflectY: false);
        request.AddWriteback(props, output.Crtc.Id, targetFb);
        output.SetOn(false); // whatever happens, the next frame sets the output's mode again
        card.CommitAtomic(request, DrmAtomicCommitFlags.AllowModeset);
        using (SyncFile done = request.TakeOutFence(output.Writeback!.Id))
        {
            await done.WaitAsync(Patience);
        }

        // XRGB8888's x byte is padding, not part of the pixel: the client leaves 0 there, vkms writes 0xff.
        uint mask = buffer.Description.Format == DrmFourcc.Xrgb8888 ? 0x00ffffffu : 0xffffffffu;
        int differing = 0;
        using (DumbBufferMapping map = target.Map())
        {
            using DumbBufferCpuAccess access = map.BeginAccess();
            for (int y = 0; y < h; y++)
            {
                ReadOnlySpan<byte> got = access.Span.Slice(y * (int)target.Pitch, w * 4), want = expected.AsSpan(y * w * 4, w * 4);
                for (int x = 0; x < w; x++)
                {
                    uint g = BinaryPrimitives.ReadUInt32LittleEndian(got[(x * 4)..]), e = BinaryPrimitives.ReadUInt32LittleEndian(want[(x * 4)..]);
                    if ((g & mask) != (e & mask))
                    {
                        FirstWritebackDifference ??= $"row {y} pixel {x}: 0x{g:x8}, mapped 0x{e:x8}";
                        differing++;
                        break;
                    }
                }
            }
        }

        // Back to the output's own state before anything else is shown (the scene's next frame sets its planes).
        request.Clear();
        output.AddModeset(request);
        for (int i = 0; i < output.Planes.Count; i++)
        {
            output.AddPlaneOff(request, i);
        }

        output.AddPlane(request, 0, buffer.Framebuffer, 0, 0, (uint)w, (uint)h, reflectY: false);
        card.CommitAtomic(request, DrmAtomicCommitFlags.AllowModeset);
        output.SetOn(true);
        return (differing, h);
    }

    /// <summary>Closes the capture and the copies (their framebuffers and dumb buffers).</summary>
    public void Dispose()
    {
        _capture?.Dispose();
        foreach (Picture p in _pictures)
        {
            p.Framebuffer.Dispose();
            p.Copy.Dispose();
        }

        _pictures.Clear();
    }

    /// <summary>The picture the buffer holds: one seen before, or a new one (checked, and copied into a dumb buffer of the card).</summary>
    private Picture Find(ClientBuffer buffer)
    {
        int w = (int)buffer.Width, h = (int)buffer.Height;
        byte[] pixels = Read(buffer);
        foreach (Picture p in _pictures)
        {
            if (p.Width == w && p.Height == h && p.Format == buffer.Description.Format && p.Pixels.AsSpan().SequenceEqual(pixels))
            {
                return p;
            }
        }

        string? problem = buffer.Description.Format == DrmFourcc.Xrgb8888 || buffer.Description.Format == DrmFourcc.Argb8888
            ? ClientPicture.Check(pixels, w, h)
            : $"cannot check a {buffer.Description.Format} picture";
        if (problem is not null)
        {
            Problems.Add($"{buffer}: {problem}");
        }

        DumbBuffer copy = _compositor.Card.CreateDumbBuffer((uint)w, (uint)h, 32);
        try
        {
            using (DumbBufferMapping map = copy.Map())
            {
                using DumbBufferCpuAccess access = map.BeginAccess();
                for (int y = 0; y < h; y++)
                {
                    pixels.AsSpan(y * w * 4, w * 4).CopyTo(access.Span[(y * (int)copy.Pitch)..]);
                }
            }

            var picture = new Picture(_pictures.Count + 1, w, h, buffer.Description.Format, pixels, copy, _compositor.Card.AddFramebuffer(copy, buffer.Description.Format), problem);
            _pictures.Add(picture);
            return picture;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>The buffer's pixels, row by row without the stride's padding, read through its dma-buf mapping.</summary>
    internal static byte[] Read(ClientBuffer buffer)
    {
        PrimeInterop.DmaBufPlane plane = buffer.Description.Planes[0];
        int w = (int)buffer.Width, h = (int)buffer.Height;
        byte[] pixels = new byte[w * h * 4];
        using DmaBufMapping map = plane.Buffer.Map(DmaBufAccess.Read);
        using DmaBufCpuAccess access = map.BeginAccess(DmaBufAccess.Read);
        for (int y = 0; y < h; y++)
        {
            access.Span.Slice((int)plane.Offset + (y * (int)plane.Stride), w * 4).CopyTo(pixels.AsSpan(y * w * 4));
        }

        return pixels;
    }

    private sealed record Picture(int Id, int Width, int Height, DrmFourcc Format, byte[] Pixels, DumbBuffer Copy, Framebuffer Framebuffer, string? Problem);
}

/// <summary>Display modes made to measure.</summary>
internal static class Modes
{
    /// <summary>A <paramref name="width"/> x <paramref name="height"/> mode at 60 Hz with small blanking (struct drm_mode_modeinfo, user-defined).</summary>
    public static DrmModeInfo Make(int width, int height)
    {
        const uint DRM_MODE_TYPE_USERDEF = 1 << 5;
        int htotal = width + 80, vtotal = height + 20;
        byte[] b = new byte[DrmModeInfo.Size];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)(((long)htotal * vtotal * 60 + 999) / 1000)); // clock, kHz
        ushort[] timings = [(ushort)width, (ushort)(width + 8), (ushort)(width + 40), (ushort)htotal, 0, (ushort)height, (ushort)(height + 3), (ushort)(height + 8), (ushort)vtotal, 0];
        for (int i = 0; i < timings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4 + (i * 2)), timings[i]);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(24), 60); // vrefresh
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(32), DRM_MODE_TYPE_USERDEF);
        System.Text.Encoding.ASCII.GetBytes($"{width}x{height}", b.AsSpan(36, 31));
        return DrmModeInfo.FromBytes(b);
    }
}
