using PrimeComp;
using PrimeInterop.Tests.Infrastructure;
using Wayland.Wire;
using WlShow;

namespace PrimeInterop.Tests;

/// <summary>
/// One run of the compositor sample with two unmodified weston-simple-dmabuf-egl clients (kernel A: vkms scans out,
/// one client allocates on vkms, the other on vgem), shared by the assertions below; started by the first of them,
/// once the kernel is known to have vkms.
/// </summary>
public sealed class WestonClientsRunFixture
{
    private readonly Lazy<(RunReport? Report, Exception? Error, string? Leaks)> _run = new(() =>
    {
        var oracle = new LeakOracle();
        try
        {
            RunReport report = ClientsRun.RunAsync(new RunOptions
            {
                VerifiedFrames = 60,
                MeasuredFrames = 10, // the measurements are the Compositor target's; here they only must not fail
                LibraryFlips = 5,
                ClockShim = Repo.NativeProgram("libclock-freeze.so"),
                Log = line => TestContext.Current.TestOutputHelper?.WriteLine(line),
            }).GetAwaiter().GetResult();
            WestonFixture.RigRecord($"compositor: {string.Join("; ", report.Measurements)}");
            string? leaks = null;
            try
            {
                oracle.Verify();
            }
            catch (Xunit.Sdk.XunitException e)
            {
                leaks = e.Message;
            }

            return (report, null, leaks);
        }
#pragma warning disable CA1031 // every test of the class reports it
        catch (Exception e)
#pragma warning restore CA1031
        {
            return (null, e, null);
        }
        finally
        {
            oracle.Dispose();
        }
    });

    /// <summary>The run's report; fails the test with the run's error when it did not finish.</summary>
    public RunReport Report
    {
        get
        {
            KernelEnv.RequireCapability("vkms");
            var (report, error, _) = _run.Value;
            return report ?? throw new InvalidOperationException("the compositor run failed", error);
        }
    }

    /// <summary>The leak oracle's finding over the whole run (fds of the test process); null when nothing leaked.</summary>
    public string? Leaks => Report is not null ? _run.Value.Leaks : null;
}

/// <summary>
/// samples/primecomp against real clients nobody here wrote: every frame's mapped picture is checked and the CRTC's
/// CRC compared with that of the same plane state showing copies of the mapped bytes; writeback gives each client's
/// pixels back; each wl_buffer is imported once; nothing is left behind.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class CompositorClientsTests(WestonClientsRunFixture fixture) : IClassFixture<WestonClientsRunFixture>
{
    [Fact]
    public void Two_weston_clients_frames_are_scanned_out_and_each_matches_the_crc_of_its_mapped_pixels()
    {
        RunReport report = fixture.Report;
        Assert.True(report.Succeeded, string.Join("\n", [.. report.Problems, .. report.ClientOutputs]));
        Assert.Equal(2, report.Clients);
        Assert.All(report.VerifiedFramesPerClient, n => Assert.True(n >= 60, $"{n} verified frames"));
        Assert.True(report.CrcMatches >= 60, $"{report.CrcMatches} CRCs matched");
        Assert.InRange(report.ReferenceCommits, 1, 8); // one per distinct picture and layout, not one per frame
        Assert.Equal($"compositor: {report.VerifiedFramesPerClient.Sum()} frames from weston-simple-dmabuf-egl (2 clients), {report.BuffersCreated} buffers imported once each, " +
            "scan-out CRC matches the mapped pixels, writeback exact, 0 leaked fds/handles/framebuffers", report.Summary);
    }

    [Fact]
    public void Each_client_buffer_is_imported_once_and_scanned_out_from_its_one_framebuffer()
    {
        RunReport report = fixture.Report;
        Assert.Equal(report.BuffersCreated, report.Imports);
        Assert.InRange(report.BuffersCreated, 2, 8); // weston-simple-dmabuf-egl makes 4 per window
        Assert.InRange(report.FramebuffersScannedOut, 2, report.BuffersCreated);
        Assert.True(report.VerifiedFramesPerClient.Sum() > 10 * report.BuffersCreated, "frames reuse the buffers (and their framebuffers)");
    }

    [Fact]
    public void Writeback_gives_back_each_clients_pixels()
    {
        RunReport report = fixture.Report;
        Assert.Equal(2, report.Writeback.Count);
        Assert.All(report.Writeback, w => Assert.Equal((0, 256), w));
    }

    [Fact]
    public void The_run_leaves_no_fd_gem_handle_or_framebuffer_behind_and_the_clients_exit_cleanly()
    {
        RunReport report = fixture.Report;
        Assert.Equal((0, 0, 0), (report.LeakedFds, report.LeakedHandles, report.LeakedFramebuffers));
        Assert.Null(fixture.Leaks);
        Assert.All(report.ClientOutputs, o => Assert.Contains(": exit 0\n", o, StringComparison.Ordinal));
    }
}

/// <summary>
/// One compositor on vkms for the hostile-client cases, and a well-behaved client of the wire library showing a vgem
/// buffer, which must keep being served whatever the others do.
/// </summary>
public sealed class CompositorFixture : IDisposable
{
    private Compositor? _compositor;
    private DrmDevice? _vgem;
    private GoodClient? _good;

    public Compositor Compositor
    {
        get
        {
            Start();
            return _compositor!;
        }
    }

    public DrmDevice Vgem
    {
        get
        {
            Start();
            return _vgem!;
        }
    }

    public GoodClient Good
    {
        get
        {
            Start();
            return _good!;
        }
    }

    public void Dispose()
    {
        _good?.Dispose();
        _compositor?.Dispose();
        _vgem?.Dispose();
    }

    private void Start()
    {
        KernelEnv.RequireCapability("vkms");
        if (_compositor is null)
        {
            _compositor = Compositor.Start(new CompositorOptions { CardPath = KernelEnv.Find("vkms", DrmNodeType.Primary)!.Path });
            _vgem = KernelEnv.OpenVgemCard();
            _good = new GoodClient(_compositor, _vgem);
        }
    }
}

/// <summary>A client of the wire library that shows two 64x64 vgem buffers in turn, a frame callback per commit.</summary>
public sealed class GoodClient : IDisposable, WlCallback.IEvents, WlBuffer.IEvents, XdgSurface.IEvents
{
    private readonly SocketPair _pair = new();
    private readonly DumbBuffer[] _dumbs;
    private readonly WaylandProxy[] _buffers;
    private readonly WaylandProxy _surface;
    private readonly WaylandProxy _xdgSurface;
    private uint? _configure;
    private int _next;

    public GoodClient(Compositor compositor, DrmDevice card)
    {
        compositor.AddClient(_pair.B);
        Connection = WaylandClient.FromSocket(_pair.A);
        Connection.Timeout = TimeSpan.FromSeconds(20);
        var registry = WaylandRegistry.Load(Connection);
        WaylandProxy wlCompositor = registry.Bind(WlCompositor.Interface, 1);
        WaylandProxy wmBase = registry.Bind(XdgWmBase.Interface, 1);
        DmaBuf = registry.Bind(ZwpLinuxDmabufV1.Interface, 3, 3);
        _surface = WlCompositor.CreateSurface(wlCompositor);
        _xdgSurface = XdgWmBase.GetXdgSurface(wmBase, _surface);
        XdgSurface.Listen(_xdgSurface, this);
        XdgSurface.GetToplevel(_xdgSurface);
        WlSurface.Commit(_surface);
        Connection.WaitFor(() => _configure is not null, "the first configure");
        XdgSurface.AckConfigure(_xdgSurface, _configure!.Value);
        _dumbs = [card.CreateDumbBuffer(64, 64, 32), card.CreateDumbBuffer(64, 64, 32)];
        _buffers = [.. _dumbs.Select(d => CreateBuffer(d, card))];
        Frame();
    }

    public WaylandClient Connection { get; }

    public WaylandProxy DmaBuf { get; }

    public int Releases { get; private set; }

    public int Frames { get; private set; }

    /// <summary>Commits the next buffer with a frame callback and waits for it: the compositor flipped.</summary>
    public void Frame()
    {
        int frames = Frames;
        WaylandProxy callback = WlSurface.Frame(_surface);
        WlCallback.Listen(callback, this);
        WlSurface.Attach(_surface, _buffers[_next++ % 2], 0, 0);
        WlSurface.Damage(_surface, 0, 0, 64, 64);
        WlSurface.Commit(_surface);
        Connection.WaitFor(() => Frames > frames, "a frame callback");
    }

    public void Dispose()
    {
        Connection.Dispose(); // its end; the other is the compositor's
        foreach (DumbBuffer d in _dumbs ?? [])
        {
            d.Dispose();
        }
    }

    void WlCallback.IEvents.Done(WaylandProxy self, uint callbackData) => Frames++;

    void WlBuffer.IEvents.Release(WaylandProxy self) => Releases++;

    void XdgSurface.IEvents.Configure(WaylandProxy self, uint serial) => _configure = serial;

    private WaylandProxy CreateBuffer(DumbBuffer dumb, DrmDevice card)
    {
        WaylandProxy parameters = ZwpLinuxDmabufV1.CreateParams(DmaBuf);
        using (DmaBuf plane = card.ExportDmaBuf(dumb.Handle))
        {
            ZwpLinuxBufferParamsV1.Add(parameters, plane, 0, 0, dumb.Pitch, (uint)(DmaBufDescription.InvalidModifier >> 32), unchecked((uint)DmaBufDescription.InvalidModifier));
        }

        WaylandProxy buffer = ZwpLinuxBufferParamsV1.CreateImmed(parameters, 64, 64, DrmFourcc.Xrgb8888.Value, 0);
        ZwpLinuxBufferParamsV1.Destroy(parameters);
        WlBuffer.Listen(buffer, this);
        return buffer;
    }
}

/// <summary>
/// Hostile clients of the compositor sample (kernel A, vkms): each breaks linux-dmabuf's rules in one way and gets
/// the protocol error the XML names, on the params object, and is disconnected; the well-behaved client keeps being
/// served; no fd, GEM handle or framebuffer is left behind (the leak oracle, the card's own counts).
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class CompositorHostileClientTests(CompositorFixture fixture) : IClassFixture<CompositorFixture>
{
    private const ulong XTiled = 0x0100000000000001; // I915_FORMAT_MOD_X_TILED: not something vkms scans out
    private const uint Xr24 = 0x34325258;

    [Theory]
    [InlineData("not a dma-buf", ZwpLinuxBufferParamsV1.Error.InvalidWlBuffer, "is not a dma-buf")]
    [InlineData("plane index 4", ZwpLinuxBufferParamsV1.Error.PlaneIdx, "plane index 4")]
    [InlineData("plane 0 twice", ZwpLinuxBufferParamsV1.Error.PlaneSet, "plane 0 is set already")]
    [InlineData("two planes for XR24", ZwpLinuxBufferParamsV1.Error.Incomplete, "XR24 has 1 plane(s); planes 0,1 were added")]
    [InlineData("plane 1 without plane 0", ZwpLinuxBufferParamsV1.Error.Incomplete, "planes 1 were added")]
    [InlineData("offset beyond the buffer", ZwpLinuxBufferParamsV1.Error.OutOfBounds, "do not fit the 16384-byte dma-buf")]
    [InlineData("stride beyond the buffer", ZwpLinuxBufferParamsV1.Error.OutOfBounds, "rows of stride 4294967295")]
    [InlineData("stride shorter than a row", ZwpLinuxBufferParamsV1.Error.OutOfBounds, "rows of stride 16 (rows of 256 bytes)")]
    [InlineData("zero width", ZwpLinuxBufferParamsV1.Error.InvalidDimensions, "0x64")]
    [InlineData("absurd size", ZwpLinuxBufferParamsV1.Error.InvalidDimensions, "1048576x1048576")]
    [InlineData("modifier not advertised", ZwpLinuxBufferParamsV1.Error.InvalidFormat, "modifier 0x100000000000001 was not advertised")]
    [InlineData("unknown format", ZwpLinuxBufferParamsV1.Error.InvalidFormat, "format ABCD with modifier 0xffffffffffffff was not advertised")]
    [InlineData("create twice", ZwpLinuxBufferParamsV1.Error.AlreadyUsed, "made a buffer already")]
    public void A_hostile_client_gets_the_error_the_xml_names_and_is_cut_off_alone_leaving_nothing_behind(string what, ZwpLinuxBufferParamsV1.Error code, string message)
    {
        Compositor compositor = fixture.Compositor;
        DrmDevice vgem = fixture.Vgem;
        fixture.Good.Frame();
        var before = Counts(compositor);
        using var oracle = new LeakOracle();
        using (var dumb = vgem.CreateDumbBuffer(64, 64, 32))
        using (DmaBuf plane = vgem.ExportDmaBuf(dumb.Handle))
        {
            var pair = new SocketPair(); // B is the compositor's, A the client's
            compositor.AddClient(pair.B);
            using var client = WaylandClient.FromSocket(pair.A);
            client.Timeout = TimeSpan.FromSeconds(20);
            WaylandProxy parameters = ZwpLinuxDmabufV1.CreateParams(WaylandRegistry.Load(client).Bind(ZwpLinuxDmabufV1.Interface, 3, 3));
            void Add(uint index, uint offset = 0, uint stride = 256, ulong modifier = DmaBufDescription.InvalidModifier) =>
                ZwpLinuxBufferParamsV1.Add(parameters, plane, index, offset, stride, (uint)(modifier >> 32), unchecked((uint)modifier));

            switch (what)
            {
                case "not a dma-buf":
                    using (var memfd = SharedMemory.Create("not-a-dma-buf", 16384))
                    {
                        ZwpLinuxBufferParamsV1.Add(parameters, memfd, 0, 0, 256, 0, 0);
                    }

                    break;
                case "plane index 4":
                    Add(4);
                    break;
                case "plane 0 twice":
                    Add(0);
                    Add(0);
                    break;
                case "create twice":
                    Add(0);
                    ZwpLinuxBufferParamsV1.CreateImmed(parameters, 64, 64, Xr24, 0); // imported into vkms: it must go with the client
                    ZwpLinuxBufferParamsV1.CreateImmed(parameters, 64, 64, Xr24, 0);
                    break;
                default:
                    if (what != "plane 1 without plane 0")
                    {
                        Add(0, offset: what == "offset beyond the buffer" ? 16384u : 0, stride: what switch
                        {
                            "stride beyond the buffer" => uint.MaxValue,
                            "stride shorter than a row" => 16,
                            _ => 256,
                        }, modifier: what == "modifier not advertised" ? XTiled : DmaBufDescription.InvalidModifier);
                    }

                    if (what is "two planes for XR24" or "plane 1 without plane 0")
                    {
                        Add(1);
                    }

                    var (w, h) = what switch
                    {
                        "zero width" => (0, 64),
                        "absurd size" => (1 << 20, 1 << 20),
                        _ => (64, 64),
                    };
                    ZwpLinuxBufferParamsV1.Create(parameters, w, h, what == "unknown format" ? 0x44434241u : Xr24, 0);
                    break;
            }

            var e = Assert.Throws<WaylandProtocolException>(() => client.Roundtrip());
            Assert.Equal((uint)code, e.Code);
            Assert.Equal(parameters.ToString(), e.ObjectName);
            Assert.Contains(message, e.Message, StringComparison.Ordinal);
        }

        fixture.Good.Frame(); // the well-behaved client is served as before
        Assert.Equal(before, Counts(compositor));
        Assert.StartsWith($"protocol error {(uint)code} ", compositor.Invoke(() => compositor.Disconnects[^1]), StringComparison.Ordinal);
        oracle.Verify();
    }

    [Fact]
    public void A_client_that_disconnects_in_the_middle_of_its_params_or_with_its_buffer_on_the_screen_leaves_nothing_behind()
    {
        Compositor compositor = fixture.Compositor;
        DrmDevice vgem = fixture.Vgem;
        fixture.Good.Frame();
        var before = Counts(compositor);
        int imports = compositor.Imports;
        using var oracle = new LeakOracle();
        using (var dumb = vgem.CreateDumbBuffer(64, 64, 32))
        using (DmaBuf plane = vgem.ExportDmaBuf(dumb.Handle))
        {
            {
                var pair = new SocketPair();
                compositor.AddClient(pair.B);
                using var client = WaylandClient.FromSocket(pair.A);
                WaylandProxy parameters = ZwpLinuxDmabufV1.CreateParams(WaylandRegistry.Load(client).Bind(ZwpLinuxDmabufV1.Interface, 3, 3));
                ZwpLinuxBufferParamsV1.Add(parameters, plane, 0, 0, 256, 0, 0);
                client.Roundtrip(); // the compositor holds the plane's fd now; the client goes without a word
            }

            using (var second = new GoodClient(compositor, vgem))
            {
                second.Frame(); // both of its buffers were on the screen; the second is when it hangs up
                Assert.Equal((2, 1), (second.Frames, second.Releases));
            }
        }

        fixture.Good.Frame();
        fixture.Good.Frame(); // the flip that took the gone client's plane away, and the next
        Assert.Equal(imports + 2, compositor.Imports);
        Assert.Equal(before, Counts(compositor));
        oracle.Verify();
    }

    [Fact]
    public void Buffers_are_released_after_the_flip_that_replaced_them_and_v3_announces_modifiers_per_format()
    {
        GoodClient good = fixture.Good;
        int releases = good.Releases;
        good.Frame();
        good.Frame();
        Assert.Equal(releases + 2, good.Releases); // each frame's buffer replaced the other one on the screen

        var modifiers = new ModifierSpy();
        WaylandProxy bound = WaylandRegistry.Load(good.Connection).Bind(ZwpLinuxDmabufV1.Interface, 3, 3);
        ZwpLinuxDmabufV1.Listen(bound, modifiers);
        good.Connection.Roundtrip();
        Assert.Contains(new FormatModifier(Xr24, DmaBufDescription.InvalidModifier), modifiers.Pairs); // what Mesa sends without modifiers
        Assert.Contains(new FormatModifier(Xr24, DmaBufDescription.LinearModifier), modifiers.Pairs);
        Assert.DoesNotContain(modifiers.Pairs, p => p.Modifier == XTiled);
    }

    [Fact]
    public void Linux_dmabuf_v4_feedback_names_the_card_and_offers_what_v3_announces()
    {
        Compositor compositor = fixture.Compositor;
        var pair = new SocketPair();
        compositor.AddClient(pair.B);
        using var client = WaylandClient.FromSocket(pair.A);
        var registry = WaylandRegistry.Load(client);
        var feedback = new DmaBufFeedback();
        ZwpLinuxDmabufFeedbackV1.Listen(ZwpLinuxDmabufV1.GetDefaultFeedback(registry.Bind(ZwpLinuxDmabufV1.Interface, 4, 4)), feedback);
        var modifiers = new ModifierSpy();
        ZwpLinuxDmabufV1.Listen(registry.Bind(ZwpLinuxDmabufV1.Interface, 3, 3), modifiers);
        client.WaitFor(() => feedback.IsDone, "the feedback");
        client.Roundtrip();
        Assert.Equal(DrmDeviceNumber.Of(compositor.Card.Path), feedback.MainDevice);
        DmaBufTranche tranche = Assert.Single(feedback.Tranches);
        Assert.Equal((feedback.MainDevice!.Value, 1u), (tranche.TargetDevice, tranche.Flags)); // scanout
        Assert.Equal(modifiers.Pairs.OrderBy(p => (p.Format, p.Modifier)), feedback.Table.OrderBy(p => (p.Format, p.Modifier)));
        Assert.Equal(feedback.Table, tranche.Formats);
    }

    /// <summary>The card's framebuffers (of the compositor's file, and of the whole device in debugfs) and the handles the compositor's file holds.</summary>
    private static (int Framebuffers, int DeviceFramebuffers, int Handles) Counts(Compositor compositor) =>
        compositor.Invoke(() => (compositor.Card.GetResources().Framebuffers.Count, DeviceFramebuffers(compositor.Card), compositor.Card.OpenObjectCount));

    private static int DeviceFramebuffers(DrmDevice card) =>
        File.ReadAllLines(Path.Combine(DrmCrcCapture.DebugFsDirectory(card), "framebuffer")).Count(l => l.StartsWith("framebuffer[", StringComparison.Ordinal));

    private sealed class ModifierSpy : ZwpLinuxDmabufV1.IEvents
    {
        public List<FormatModifier> Pairs { get; } = [];

        void ZwpLinuxDmabufV1.IEvents.Modifier(WaylandProxy self, uint format, uint modifierHi, uint modifierLo) =>
            Pairs.Add(new FormatModifier(format, ((ulong)modifierHi << 32) | modifierLo));
    }
}
