using System.Diagnostics;
using System.Globalization;
using PrimeInterop.Tests.Infrastructure;
using Wayland.Wire;
using WlShow;

namespace PrimeInterop.Tests;

/// <summary>
/// One weston per backend per test class, started on first use (2–5 s under TCG) and stopped, with its runtime
/// directory removed, when the class is done — whatever its tests did.
/// </summary>
public abstract class WestonFixture : IDisposable
{
    private WestonProcess? _weston;
    private Exception? _startError;

    public abstract WestonBackend Backend { get; }

    /// <summary>The fullscreen shell unless a fixture says otherwise; the client asks for the matching shell.</summary>
    public virtual WestonShell Shell => WestonShell.Fullscreen;

    public WestonProcess Weston
    {
        get
        {
            if (_startError is not null)
            {
                throw new InvalidOperationException($"weston ({Backend}) failed to start for an earlier test", _startError);
            }

            if (_weston is null)
            {
                try
                {
                    _weston = WestonProcess.Start(Backend, Card(), shell: Shell);
                }
                catch (Exception e)
                {
                    _startError = e; // one slow failure per class, not one per test
                    throw;
                }

                RigRecord($"weston {Backend} {Shell} startup (process start to first round trip): {_weston.StartupTime.TotalSeconds:0.00} s");
            }

            return _weston.HasExited ? throw new InvalidOperationException($"weston ({Backend}) died; its log:\n{_weston.LogTail()}") : _weston;
        }
    }

    public void Dispose()
    {
        if (_weston is not null && Environment.GetEnvironmentVariable("RIG_OUT") is { Length: > 0 } dir && Directory.Exists(dir) && File.Exists(_weston.LogPath))
        {
            File.Copy(_weston.LogPath, Path.Combine(dir, $"weston-{Backend}-{Shell}.log"), overwrite: true); // for the rig's results
            if (File.Exists(_weston.StdioPath))
            {
                File.Copy(_weston.StdioPath, Path.Combine(dir, $"weston-{Backend}-{Shell}.stdio"), overwrite: true);
            }
        }

        _weston?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Appends a measurement to $RIG_OUT/weston-timings.txt (the rig's results share) when there is one.</summary>
    public static void RigRecord(string line)
    {
        if (Environment.GetEnvironmentVariable("RIG_OUT") is { Length: > 0 } dir && Directory.Exists(dir))
        {
            File.AppendAllText(Path.Combine(dir, "weston-timings.txt"),
                $"kernel {Environment.GetEnvironmentVariable("PRIMEINTEROP_RIG_KERNEL")}: {line}\n");
        }
    }

    protected abstract string? Card();
}

public sealed class HeadlessWestonFixture : WestonFixture
{
    public override WestonBackend Backend => WestonBackend.Headless;

    protected override string? Card() => null;
}

public sealed class DrmWestonFixture : WestonFixture
{
    public override WestonBackend Backend => WestonBackend.Drm;

    protected override string? Card() => Path.GetFileName(KernelEnv.Find("vkms", DrmNodeType.Primary)!.Path);
}

public sealed class HeadlessDesktopWestonFixture : WestonFixture
{
    public override WestonBackend Backend => WestonBackend.Headless;

    public override WestonShell Shell => WestonShell.Desktop;

    protected override string? Card() => null;
}

public sealed class DrmDesktopWestonFixture : WestonFixture
{
    public override WestonBackend Backend => WestonBackend.Drm;

    public override WestonShell Shell => WestonShell.Desktop;

    protected override string? Card() => Path.GetFileName(KernelEnv.Find("vkms", DrmNodeType.Primary)!.Path);
}

/// <summary>
/// A real weston 10 shows PrimeInterop buffers that a client speaking the Wayland wire protocol itself sent with
/// linux-dmabuf-v1 (fds by SCM_RIGHTS), and its screenshooter gives back exactly the client's pixels.
/// </summary>
public abstract class WestonTestsBase<TFixture>(TFixture fixture)
    where TFixture : WestonFixture
{
    protected TFixture Fixture { get; } = fixture;

    [Fact]
    public void The_screenshot_equals_the_clients_pixels()
    {
        WestonProcess weston = Start();
        using var oracle = new LeakOracle();
        using (var card = OpenCard())
        using (var client = Connect(weston))
        using (var frame = new ClientBuffer(card, (uint)client.SurfaceSize.Width, (uint)client.SurfaceSize.Height))
        {
            frame.Fill(1);
            var clock = Stopwatch.StartNew();
            var buffer = client.CreateBuffer(frame.Description);
            client.Present(buffer);
            AssertShows(client.TakeScreenshot(), frame, 1);
            WestonFixture.RigRecord($"weston {weston.Backend} {frame.Description.Width}x{frame.Description.Height}: create_immed to verified screenshot {clock.Elapsed.TotalMilliseconds:0} ms");
        }

        oracle.Verify();
    }

    [Fact]
    public void A_second_frame_with_new_content_shows_the_new_content()
    {
        WestonProcess weston = Start();
        using var oracle = new LeakOracle();
        using (var card = OpenCard())
        using (var client = Connect(weston))
        using (var first = new ClientBuffer(card, (uint)client.SurfaceSize.Width, (uint)client.SurfaceSize.Height))
        using (var second = new ClientBuffer(card, (uint)client.SurfaceSize.Width, (uint)client.SurfaceSize.Height))
        {
            first.Fill(1);
            second.Fill(2);
            client.Present(client.CreateBuffer(first.Description));
            AssertShows(client.TakeScreenshot(), first, 1);
            client.Present(client.CreateBuffer(second.Description));
            AssertShows(client.TakeScreenshot(), second, 2);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_buffer_is_released_when_replaced_and_shows_new_content_when_reused()
    {
        WestonProcess weston = Start();
        using var oracle = new LeakOracle();
        using (var card = OpenCard())
        using (var client = Connect(weston))
        using (var a = new ClientBuffer(card, (uint)client.SurfaceSize.Width, (uint)client.SurfaceSize.Height))
        using (var b = new ClientBuffer(card, (uint)client.SurfaceSize.Width, (uint)client.SurfaceSize.Height))
        {
            a.Fill(1);
            b.Fill(2);
            var bufferA = client.CreateBuffer(a.Description);
            var bufferB = client.CreateBuffer(b.Description);
            client.Present(bufferA);
            Assert.False(bufferA.Released, "weston released the buffer it is showing");
            client.Present(bufferB);
            client.WaitForRelease(bufferA);
            Assert.Equal(1, bufferA.ReleaseCount);

            a.Fill(3); // weston let go of it: the client may write again
            client.Present(bufferA);
            AssertShows(client.TakeScreenshot(), a, 3);
            client.WaitForRelease(bufferB);
        }

        oracle.Verify();
    }

    protected abstract void RequireDevices();

    protected abstract DrmDevice OpenCard();

    /// <summary>A client on the fixture's weston, its surface shown through the shell that weston runs.</summary>
    protected static DmaBufClient Connect(WestonProcess weston)
    {
        var client = DmaBufClient.Connect(weston.SocketPath, TimeSpan.FromSeconds(60), weston.Shell == WestonShell.Desktop ? ShellChoice.Xdg : ShellChoice.Fullscreen);
        try
        {
            client.ShowSurface();
            Assert.StartsWith(weston.Shell == WestonShell.Desktop ? "xdg_wm_base" : "zwp_fullscreen_shell_v1", client.ShellName, StringComparison.Ordinal);
            Assert.Equal((client.OutputWidth, client.OutputHeight), client.SurfaceSize); // full screen
            Assert.Equal("weston_screenshooter", client.CaptureName);
            WestonFixture.RigRecord($"weston {weston.Backend} {weston.Shell}: zwp_linux_dmabuf_v1 version {client.DmaBufVersion}; {client.ShellName}");
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    protected WestonProcess Start()
    {
        RequireDevices();
        return Fixture.Weston;
    }

    protected static void AssertShows(Screenshot shot, ClientBuffer frame, uint seed)
    {
        var (bad, first) = TestImage.Compare(shot, frame.Description.Width, frame.Description.Height, seed);
        Assert.True(bad == 0, string.Create(CultureInfo.InvariantCulture, $"the screenshot differs from the client's image (seed {seed}) in {bad} pixels; first: {first}"));
    }
}

/// <summary>
/// What does not depend on the shell — refused formats and buffers, and what weston lets go of after a disconnect —
/// on top of <see cref="WestonTestsBase{TFixture}"/>: run with the fullscreen shell only.
/// </summary>
public abstract class WestonBufferTestsBase<TFixture>(TFixture fixture) : WestonTestsBase<TFixture>(fixture)
    where TFixture : WestonFixture
{
    [Fact]
    public void A_format_the_compositor_did_not_advertise_is_refused_before_anything_is_sent()
    {
        WestonProcess weston = Start();
        using var oracle = new LeakOracle();
        using (var card = OpenCard())
        using (var client = Connect(weston))
        {
            const ulong xTiled = 0x0100000000000001; // I915_FORMAT_MOD_X_TILED: weston 10 offers implicit modifiers only
            Assert.True(client.IsAdvertised(DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier), "weston offers XR24 without modifier");
            Assert.False(client.IsAdvertised(DrmFourcc.Xrgb8888, xTiled));
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            using var description = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, xTiled,
                [new DmaBufPlane(card.ExportDmaBuf(dumb.Handle), 0, dumb.Pitch)]);
            long sent = client.Connection.RequestsSent;
            var e = Assert.Throws<NotSupportedException>(() => client.CreateBuffer(description));
            Assert.Contains("XR24", e.Message, StringComparison.Ordinal);
            Assert.Contains("0x100000000000001", e.Message, StringComparison.Ordinal);
            Assert.Equal(sent, client.Connection.RequestsSent);
            client.Connection.Roundtrip(); // the connection is still good
        }

        oracle.Verify();
    }

    [Fact]
    public void A_buffer_the_compositor_rejects_gives_an_exception_naming_the_object_and_the_code()
    {
        WestonProcess weston = Start();
        using var oracle = new LeakOracle();
        using (var card = OpenCard())
        using (var client = Connect(weston))
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        {
            // Valid for the library (the last row ends inside the 16 KiB buffer) but not for weston, which wants
            // offset + stride * height within it: 2 * 16320 > 16384.
            Assert.Equal(16384UL, dumb.Size);
            using var description = new DmaBufDescription(16, 2, DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier,
                [new DmaBufPlane(card.ExportDmaBuf(dumb.Handle), 0, 16320)]);
            var e = Assert.Throws<WaylandProtocolException>(() => client.CreateBuffer(description));
            Assert.StartsWith("zwp_linux_buffer_params_v1@", e.ObjectName, StringComparison.Ordinal);
            Assert.Equal(6u, e.Code);
            Assert.Equal("out_of_bounds", e.CodeName);
            Assert.Contains("protocol error 6 (out_of_bounds)", e.Message, StringComparison.Ordinal);
            // The connection is dead after a protocol error; every later call says why.
            Assert.Same(e, Assert.Throws<WaylandProtocolException>(() => client.Connection.Roundtrip()));
        }

        oracle.Verify();
        Assert.False(weston.HasExited, "weston survives a client's bad buffer");
    }

    [Fact]
    public void After_disconnect_every_fd_the_client_opened_is_closed_and_weston_lets_go_of_the_dmabufs()
    {
        WestonProcess weston = Start();
        int westonDmaBufs = DmaBufFdsOf(weston.ProcessId);
        using var oracle = new LeakOracle();
        using (var card = OpenCard())
        using (var client = Connect(weston))
        using (var a = new ClientBuffer(card, (uint)client.SurfaceSize.Width, (uint)client.SurfaceSize.Height))
        using (var b = new ClientBuffer(card, (uint)client.SurfaceSize.Width, (uint)client.SurfaceSize.Height))
        {
            a.Fill(4);
            b.Fill(5);
            client.Present(client.CreateBuffer(a.Description));
            client.Present(client.CreateBuffer(b.Description));
            AssertShows(client.TakeScreenshot(), b, 5);
            Assert.True(DmaBufFdsOf(weston.ProcessId) > westonDmaBufs, "weston holds the client's dma-bufs while it is connected");
        }

        oracle.Verify();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DmaBufFdsOf(weston.ProcessId) > westonDmaBufs && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(20);
        }

        Assert.True(DmaBufFdsOf(weston.ProcessId) <= westonDmaBufs, $"weston still holds {DmaBufFdsOf(weston.ProcessId) - westonDmaBufs} of the client's dma-bufs 10 s after it disconnected");
    }

    private static int DmaBufFdsOf(int pid) =>
        Directory.GetFileSystemEntries($"/proc/{pid}/fd").Count(fd => Interop.Libc.ReadLink(fd) is { } t && t.StartsWith("/dmabuf:", StringComparison.Ordinal));
}

/// <summary>weston's headless backend with GL (Mesa on vgem's render node); kernels A and B. Buffers from vgem.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class WestonHeadlessTests(HeadlessWestonFixture fixture) : WestonBufferTestsBase<HeadlessWestonFixture>(fixture), IClassFixture<HeadlessWestonFixture>
{
    [Fact]
    public void Weston_is_stopped_and_its_runtime_dir_removed_even_when_the_code_using_it_fails()
    {
        KernelEnv.RequireVgem();
        int pid = 0;
        string dir = "";
        void FailingTest()
        {
            using var weston = WestonProcess.Start(WestonBackend.Headless);
            pid = weston.ProcessId;
            dir = weston.RuntimeDirectory;
            Assert.True(File.Exists(weston.SocketPath));
            throw new InvalidOperationException("a failing test");
        }

        var e = Assert.Throws<InvalidOperationException>(FailingTest);
        Assert.Equal("a failing test", e.Message);
        Assert.NotEqual(0, pid);
        Assert.False(Directory.Exists(dir), $"{dir} was not removed");
        Assert.False(Directory.Exists($"/proc/{pid}"), $"weston (pid {pid}) still runs");
    }

    protected override void RequireDevices() => KernelEnv.RequireVgem();

    protected override DrmDevice OpenCard() => KernelEnv.OpenVgemCard();
}

/// <summary>weston's headless backend with its desktop shell: wlshow's xdg-shell path (kernels A and B).</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class WestonHeadlessXdgTests(HeadlessDesktopWestonFixture fixture) : WestonTestsBase<HeadlessDesktopWestonFixture>(fixture), IClassFixture<HeadlessDesktopWestonFixture>
{
    protected override void RequireDevices() => KernelEnv.RequireVgem();

    protected override DrmDevice OpenCard() => KernelEnv.OpenVgemCard();
}

/// <summary>weston's DRM backend on vkms with its desktop shell: xdg-shell with real scan-out (kernel A).</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class WestonDrmXdgTests(DrmDesktopWestonFixture fixture) : WestonTestsBase<DrmDesktopWestonFixture>(fixture), IClassFixture<DrmDesktopWestonFixture>
{
    protected override void RequireDevices() => KernelEnv.RequireCapability("vkms");

    protected override DrmDevice OpenCard() => KernelEnv.OpenVkms();
}

/// <summary>weston's DRM backend scanning out on vkms (kernel A; kernel B lacks vkms). Buffers from vkms.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class WestonDrmTests(DrmWestonFixture fixture) : WestonBufferTestsBase<DrmWestonFixture>(fixture), IClassFixture<DrmWestonFixture>
{
    protected override void RequireDevices() => KernelEnv.RequireCapability("vkms");

    protected override DrmDevice OpenCard() => KernelEnv.OpenVkms();
}
