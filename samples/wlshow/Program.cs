using System.Diagnostics;
using PrimeInterop;
using WlShow;

// wlshow: shows a PrimeInterop dma-buf on a Wayland compositor (linux-dmabuf-v1 + fullscreen-shell) and verifies
// it through weston_screenshooter. Exit codes: 0 verified, 1 pixels differ, 2 usage, 4 other failure.
string? westonMode = null, socket = null, driver = null;
int timeoutSeconds = 30;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--weston": westonMode = Value(); break;
        case "--socket": socket = Value(); break;
        case "--device": driver = Value(); break;
        case "--timeout": timeoutSeconds = int.Parse(Value(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "-h" or "--help":
            Console.WriteLine("usage: wlshow [--weston headless|drm] [--socket PATH] [--device DRIVER] [--timeout SECONDS]");
            Console.WriteLine("  Without --weston: connects to $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY. --weston starts weston 10 itself.");
            Console.WriteLine("  DRIVER: the DRM driver whose dumb buffers the compositor renders with (vkms for --weston drm, else vgem).");
            Console.WriteLine("  The buffer must come from the device the compositor renders with (see README, same-device limit).");
            return 0;
        default:
            Console.Error.WriteLine($"wlshow: unknown argument '{args[i]}' (see --help)");
            return 2;
    }
}

WestonBackend? backend = westonMode switch
{
    null => null,
    "headless" => WestonBackend.Headless,
    "drm" => WestonBackend.Drm,
    _ => null,
};
if (westonMode is not null && backend is null)
{
    Console.Error.WriteLine($"wlshow: --weston takes headless or drm, not '{westonMode}'");
    return 2;
}

driver ??= backend == WestonBackend.Drm ? "vkms" : "vgem";
try
{
    WestonProcess? weston = null;
    if (backend is { } b)
    {
        string? card = b == WestonBackend.Drm
            ? Path.GetFileName(DrmNode.Enumerate().FirstOrDefault(n => n.DriverName == driver && n.Type == DrmNodeType.Primary)?.Path
                ?? throw new InvalidOperationException($"no {driver} card for weston's DRM backend"))
            : null;
        weston = WestonProcess.Start(b, card);
        Console.WriteLine($"weston ({b}{(card is null ? "" : " on " + card)}) answered {weston.StartupTime.TotalSeconds:0.00} s after start");
    }

    using (weston)
    {
        using var client = DmaBufClient.Connect(socket ?? weston?.SocketPath, TimeSpan.FromSeconds(timeoutSeconds));
        Console.WriteLine($"compositor: {client.CompositorName}, output {client.OutputMake} {client.OutputModel} {client.OutputWidth}x{client.OutputHeight}");
        Console.WriteLine($"zwp_linux_dmabuf_v1 version {client.DmaBufVersion}: {client.DmaBufFormats.Count} formats " +
            $"({string.Join(' ', client.DmaBufFormats.Keys.Take(8))} ...)");

        uint w = (uint)client.OutputWidth, h = (uint)client.OutputHeight;
        using var card = DrmDevice.OpenByDriver(driver, DrmNodeType.Primary);
        using var dumb = card.CreateDumbBuffer(w, h, 32);
        ulong modifier = client.IsAdvertised(DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier)
            ? DmaBufDescription.LinearModifier : DmaBufDescription.InvalidModifier;
        using var description = new DmaBufDescription(w, h, DrmFourcc.Xrgb8888, modifier,
            [new DmaBufPlane(card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite), 0, dumb.Pitch)]);
        using var map = dumb.Map();

        int failures = 0;
        WaylandDmaBuffer? buffer = null;
        for (uint seed = 1; seed <= 2; seed++)
        {
            // Frame 2 reuses the buffer after the compositor released it.
            if (buffer is not null)
            {
                client.WaitForRelease(buffer);
            }

            TestImage.Fill(map.Span, w, h, dumb.Pitch, seed);
            var clock = Stopwatch.StartNew();
            buffer ??= client.CreateBuffer(description);
            if (seed == 1)
            {
                Console.WriteLine($"presented buffer: {buffer} from {card.Path} ({card.Version.Name})");
            }

            client.Present(buffer);
            var shot = client.TakeScreenshot();
            var (bad, first) = TestImage.Compare(shot, w, h, seed);
            Console.WriteLine(bad == 0
                ? $"frame {seed}: screenshot {shot.Width}x{shot.Height} equals the client's pixels ({(long)w * h} pixels), {clock.Elapsed.TotalMilliseconds:0} ms from {(seed == 1 ? "create_immed" : "attach")} to verified screenshot"
                : $"frame {seed}: screenshot differs in {bad} of {(long)w * h} pixels; first {first}");
            failures += bad == 0 ? 0 : 1;
            if (seed == 1)
            {
                client.Present(buffer); // a new commit of the same buffer: the compositor releases it after this frame
            }
        }

        Console.WriteLine(failures == 0 ? "verified: the compositor showed exactly the client's pixels" : "NOT verified");
        return failures == 0 ? 0 : 1;
    }
}
catch (Exception e) when (e is WaylandProtocolException or NotSupportedException or IOException or TimeoutException or DrmException or InvalidOperationException)
{
    Console.Error.WriteLine($"wlshow: {e.Message}");
    return 4;
}
