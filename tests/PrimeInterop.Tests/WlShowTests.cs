using System.Globalization;
using PrimeInterop.Tests.Infrastructure;
using Wayland.Wire;
using WlShow;

namespace PrimeInterop.Tests;

/// <summary>wlshow's command line: usage errors are exit 2 with one clear message, never a stack trace.</summary>
public sealed class WlShowCliTests
{
    internal static (int Code, string Out, string Err) Wlshow(params string[] args)
    {
        var result = ChildProcess.RunDotnet(Repo.SampleAssembly("wlshow"), args, new Dictionary<string, string>());
        return (result.ExitCode, result.Out, result.Err);
    }

    [Theory]
    [InlineData("Cannot parse argument 'abc' for option '--timeout'", "--timeout", "abc")]
    [InlineData("Required argument missing for option: '--socket'", "--socket")]
    [InlineData("--timeout is 1 to 3600 seconds", "--timeout", "0")]
    [InlineData("Argument 'window' not recognized. Must be one of:", "--shell", "window")]
    [InlineData("'--shel' was not matched. Did you mean", "--shel", "xdg")]
    public void A_usage_error_exits_2_with_the_reason(string reason, params string[] args)
    {
        var (code, _, stderr) = Wlshow(args);
        Assert.True(code == 2, $"exit {code}: {stderr}");
        Assert.Contains(reason, stderr, StringComparison.Ordinal);
        Assert.Contains("See 'wlshow --help'.", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_the_options_and_exit_codes()
    {
        var (code, stdout, _) = Wlshow("--help");
        Assert.Equal(0, code);
        foreach (string option in (string[])["--weston", "--shell", "--socket", "--device", "--timeout", "auto|xdg|fullscreen"])
        {
            Assert.Contains(option, stdout, StringComparison.Ordinal);
        }

        Assert.Contains("Exit codes: 0 verified, 1 pixels differ, 2 usage error, 4 other failure.", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void No_compositor_is_exit_4_and_one_line()
    {
        string socket = Path.Combine(Path.GetTempPath(), $"wlshow-none-{Environment.ProcessId}");
        var (code, _, stderr) = Wlshow("--socket", socket, "--timeout", "2");
        Assert.True(code == 4, $"exit {code}: {stderr}");
        Assert.StartsWith("wlshow: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}

/// <summary>
/// wlshow's client against the in-process <see cref="MiniCompositor"/> (the sample's server library): linux-dmabuf v4
/// feedback, xdg-shell's handshake and ping, wlroots' screencopy with its y_invert flag; and the messages per
/// compositor family. No kernel needed.
/// </summary>
public sealed class WlShowClientTests
{
    private const uint Xr24 = 0x34325258, Ar24 = 0x34325241;
    private const ulong XTiled = 0x0100000000000001;

    /// <summary>Presents the test image in an shm buffer and checks the capture returns it exactly.</summary>
    internal static void ShowShmAndVerify(DmaBufClient client, int width, int height, uint seed)
    {
        byte[] pixels = new byte[width * height * 4];
        TestImage.Fill(pixels, (uint)width, (uint)height, (uint)width * 4, seed);
        WaylandProxy buffer = client.CreateShmBuffer(pixels, width, height, out var memory);
        using (memory)
        {
            client.Present(buffer, width, height);
            var (bad, first) = TestImage.Compare(client.TakeScreenshot(), (uint)width, (uint)height, seed);
            Assert.True(bad == 0, $"{bad} pixels differ; first {first}");
        }
    }

    [Fact]
    public void V4_feedback_is_read_from_the_table_and_the_main_devices_tranche_wins()
    {
        var main = new DrmDeviceNumber(226, 128);
        var options = new MiniCompositorOptions
        {
            Table = [new(Xr24, DmaBufDescription.LinearModifier), new(Ar24, DmaBufDescription.LinearModifier), new(Xr24, XTiled), new(Xr24, DmaBufDescription.InvalidModifier)],
            MainDevice = main,
            Tranches = [(main, 0, [1, 2, 3]), (new DrmDeviceNumber(226, 129), 1, [0])],
        };
        using var oracle = new LeakOracle();
        using (var compositor = new MiniCompositor(options))
        using (var client = DmaBufClient.Over(compositor.Connect(), TimeSpan.FromSeconds(20), ShellChoice.Auto))
        {
            Assert.Equal(4u, client.DmaBufVersion);
            Assert.Equal(options.Table, client.Feedback!.Table);
            Assert.Equal(main, client.Feedback.MainDevice);
            Assert.Equal(2, client.Feedback.Tranches.Count);

            // The main device's tranche has XR24 tiled and implicit only: LINEAR, which another device's tranche
            // lists, is not taken.
            DmaBufChoice choice = client.Feedback.Choose(DrmFourcc.Xrgb8888, null)!;
            Assert.Equal(DmaBufDescription.InvalidModifier, choice.Modifier);
            Assert.Contains("tranche 1 of 2 (device 226:128, flags 0, 3 formats)", choice.Explanation, StringComparison.Ordinal);
            Assert.Contains("format table of 4 entries, main device 226:128", choice.Explanation, StringComparison.Ordinal);
            Assert.Equal(DmaBufDescription.LinearModifier, client.Feedback.Choose(DrmFourcc.Xrgb8888, new DrmDeviceNumber(226, 129))!.Modifier);
            Assert.Null(client.Feedback.Choose(new DrmFourcc(0x3231564e), null)); // NV12: not in the table
        }

        oracle.Verify();
    }

    [Fact]
    public void The_xdg_toplevel_is_configured_acknowledged_and_pinged_and_screencopy_reads_it_back_flipped()
    {
        using var oracle = new LeakOracle();
        using (var compositor = new MiniCompositor(new MiniCompositorOptions { DmaBufVersion = 0 }))
        using (var client = DmaBufClient.Over(compositor.Connect(), TimeSpan.FromSeconds(20), ShellChoice.Auto))
        {
            client.ShowSurface();
            Assert.StartsWith("xdg_wm_base v1", client.ShellName, StringComparison.Ordinal);
            Assert.Equal((64, 48), client.SurfaceSize);
            Assert.Equal("zwlr_screencopy_manager_v1 v3", client.CaptureName);
            ShowShmAndVerify(client, 64, 48, 5);

            Assert.Equal((1, 1, 2), compositor.Invoke(() => (compositor.Pongs, compositor.Acks, compositor.Commits)));
            var e = Assert.Throws<NotSupportedException>(() => client.ChooseModifier(DrmFourcc.Xrgb8888, "/dev/dri/card0"));
            Assert.Contains("offers no zwp_linux_dmabuf_v1", e.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    public void Asking_for_a_shell_the_compositor_lacks_says_what_to_use_instead()
    {
        using var compositor = new MiniCompositor(new MiniCompositorOptions { DmaBufVersion = 0 });
        using var client = DmaBufClient.Over(compositor.Connect(), TimeSpan.FromSeconds(20), ShellChoice.Fullscreen);
        var e = Assert.Throws<NotSupportedException>(client.ShowSurface);
        Assert.Contains("offers no zwp_fullscreen_shell_v1: use --shell=xdg", e.Message, StringComparison.Ordinal);
        Assert.Equal(CompositorKind.Wlroots, client.Kind); // it offers a zwlr_ protocol
        Assert.Contains("(wlroots compositors have no fullscreen shell)", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CompositorKind.Weston, "pixman renderer")]
    [InlineData(CompositorKind.Wlroots, "render node")]
    [InlineData(CompositorKind.Other, "a software renderer, or no DRM render node")]
    public void Missing_linux_dmabuf_names_causes_of_that_compositor_family_only(CompositorKind kind, string cause)
    {
        string message = CompositorHints.NoDmaBuf("x (pid 1)", kind);
        Assert.StartsWith("x (pid 1) offers no zwp_linux_dmabuf_v1", message, StringComparison.Ordinal);
        Assert.Contains(cause, message, StringComparison.Ordinal);
        if (kind != CompositorKind.Weston)
        {
            Assert.DoesNotContain("weston", message, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("--debug", CompositorHints.NoCapture("x", kind), StringComparison.Ordinal); // protocol names only, no weston advice
            Assert.DoesNotContain("weston", CompositorHints.NoShell("x", kind, ShellChoice.Fullscreen, true, false), StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal(kind, CompositorHints.Identify(kind == CompositorKind.Weston ? "weston" : "sway",
            kind == CompositorKind.Wlroots ? ["wl_compositor", "zwlr_screencopy_manager_v1"] : ["wl_compositor"]));
    }
}

/// <summary>
/// The v4 feedback path with real dma-bufs (kernels A and B: vgem): the in-process compositor names vgem's render
/// node as its main device, lists XR24 LINEAR for it in its second tranche only, imports what the client sends into
/// vgem (FD_TO_HANDLE) and copies it back through screencopy. No compositor in the rig offers linux-dmabuf v4
/// (weston 10 there offers v3), so the sample's own server library plays one.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class WlShowDmaBufFeedbackTests
{
    [Fact]
    public void The_client_picks_the_format_the_compositors_table_offers_for_its_device_and_the_pixels_arrive()
    {
        KernelEnv.RequireVgem();
        DrmNode render = KernelEnv.Find("vgem", DrmNodeType.Render)!;
        DrmDeviceNumber main = DrmDeviceNumber.Of(render.Path) ?? throw new InvalidOperationException($"no sysfs dev for {render.Path}");
        using var oracle = new LeakOracle();
        using (var compositorCard = KernelEnv.OpenVgemCard())
        using (var compositor = new MiniCompositor(new MiniCompositorOptions
        {
            Table = [new(0x34325258, DmaBufDescription.LinearModifier), new(0x34325258, 0x0100000000000001), new(0x34325241, DmaBufDescription.LinearModifier)],
            MainDevice = main,
            // First a device that is not vgem, then vgem's node: the client must take the tranche of its own device.
            Tranches = [(new DrmDeviceNumber(226, 250), 0, [0]), (main, 0, [1, 2, 0])],
            ImportCard = compositorCard,
        }))
        using (var client = DmaBufClient.Over(compositor.Connect(), TimeSpan.FromSeconds(60), ShellChoice.Xdg))
        {
            Assert.Equal(render.Path, client.Feedback!.MainDevice!.Value.NodePath());
            string card = client.MainDevicePrimaryNode() ?? throw new InvalidOperationException("the main device has no primary node");
            using var device = DrmDevice.Open(card);
            Assert.Equal("vgem", device.Version.Name);
            DmaBufChoice choice = client.ChooseModifier(DrmFourcc.Xrgb8888, card);
            Assert.Equal(DmaBufDescription.LinearModifier, choice.Modifier);
            Assert.Contains($"tranche 2 of 2 (device {main}", choice.Explanation, StringComparison.Ordinal);
            WestonFixture.RigRecord($"v4 feedback (in-process compositor): {choice.Explanation}");

            client.ShowSurface();
            var (w, h) = client.SurfaceSize;
            using var frame = new ClientBuffer(device, (uint)w, (uint)h, choice.Modifier);
            frame.Fill(9);
            WaylandDmaBuffer buffer = client.CreateBuffer(frame.Description);
            client.Present(buffer);
            var (bad, first) = TestImage.Compare(client.TakeScreenshot(), (uint)w, (uint)h, 9);
            Assert.True(bad == 0, string.Create(CultureInfo.InvariantCulture, $"{bad} pixels differ; first {first}"));
            var (added, imported) = compositor.Invoke(() => (compositor.ModifiersAdded.ToArray(), compositor.BuffersImported));
            Assert.Equal([DmaBufDescription.LinearModifier], added);
            Assert.Equal(1, imported);
        }

        oracle.Verify();
    }
}

/// <summary>
/// The client's present, frame callback and capture path against a real weston 10 on any machine, with both of its
/// shells: headless with GL (llvmpipe), an shm buffer instead of a dma-buf, so no DRM device is needed. The dma-buf
/// path runs in the rig.
/// </summary>
public sealed class WestonShmHostTests
{
    [Theory]
    [InlineData(WestonShell.Fullscreen)]
    [InlineData(WestonShell.Desktop)]
    public void Weston_shows_an_shm_buffer_and_its_screenshooter_returns_the_exact_pixels(WestonShell shell)
    {
        if (!File.Exists("/usr/bin/weston"))
        {
            Assert.Skip("weston is not installed (tests/rig/rig.sh prereqs installs it)");
        }

        using var weston = WestonProcess.Start(WestonBackend.Headless, width: 64, height: 48, shell: shell);
        using var oracle = new LeakOracle();
        using (var client = DmaBufClient.Connect(weston.SocketPath, TimeSpan.FromSeconds(30)))
        {
            Assert.Equal((64, 48), (client.OutputWidth, client.OutputHeight));
            Assert.StartsWith("weston (pid ", client.CompositorName, StringComparison.Ordinal);
            Assert.Equal(CompositorKind.Weston, client.Kind);
            client.ShowSurface();
            Assert.StartsWith(shell == WestonShell.Desktop ? "xdg_wm_base" : "zwp_fullscreen_shell_v1", client.ShellName, StringComparison.Ordinal);
            Assert.Equal((64, 48), client.SurfaceSize);
            WlShowClientTests.ShowShmAndVerify(client, 64, 48, 7);
        }

        oracle.Verify();
    }
}
