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
    if (backend is { } kind)
    {
        string? card = kind == WestonBackend.Drm
            ? Path.GetFileName(DrmNode.Enumerate().FirstOrDefault(n => n.DriverName == driver && n.Type == DrmNodeType.Primary)?.Path
                ?? throw new InvalidOperationException($"no {driver} card for weston's DRM backend"))
            : null;
        weston = WestonProcess.Start(kind, card);
        Console.WriteLine($"weston ({kind}{(card is null ? "" : " on " + card)}) answered {weston.StartupTime.TotalSeconds:0.00} s after start");
    }

    using (weston)
    {
        using var client = DmaBufClient.Connect(socket ?? weston?.SocketPath, TimeSpan.FromSeconds(timeoutSeconds));
        Console.WriteLine($"compositor: {client.CompositorName}, output {client.OutputMake} {client.OutputModel} {client.OutputWidth}x{client.OutputHeight}");
        Console.WriteLine($"zwp_linux_dmabuf_v1 version {client.DmaBufVersion}: {client.DmaBufFormats.Count} formats " +
            $"({string.Join(' ', client.DmaBufFormats.Keys.Take(8))} ...)");

        uint w = (uint)client.OutputWidth, h = (uint)client.OutputHeight;
        using var card = DrmDevice.OpenByDriver(driver, DrmNodeType.Primary);
        ulong modifier = client.IsAdvertised(DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier)
            ? DmaBufDescription.LinearModifier : DmaBufDescription.InvalidModifier;
        using var a = new ClientBuffer(card, w, h, modifier);
        using var b = new ClientBuffer(card, w, h, modifier);

        // Frame 1 on buffer A, frame 2 on buffer B, frame 3 on A again once the compositor released it.
        int failures = 0;
        var clock = Stopwatch.StartNew();
        a.Fill(1);
        var bufferA = client.CreateBuffer(a.Description);
        Console.WriteLine($"presented buffer: {bufferA} from {card.Path} ({card.Version.Name})");
        failures += ShowAndVerify(client, bufferA, 1, clock, "create_immed");
        b.Fill(2);
        var bufferB = client.CreateBuffer(b.Description);
        failures += ShowAndVerify(client, bufferB, 2, Stopwatch.StartNew(), "create_immed");
        client.WaitForRelease(bufferA);
        Console.WriteLine($"{bufferA.Proxy} released ({bufferA.ReleaseCount}x); refilling and presenting it again");
        a.Fill(3);
        failures += ShowAndVerify(client, bufferA, 3, Stopwatch.StartNew(), "attach");
        Console.WriteLine(failures == 0 ? "verified: the compositor showed exactly the client's pixels" : "NOT verified");
        return failures == 0 ? 0 : 1;
    }
}
catch (Exception e) when (e is WaylandProtocolException or NotSupportedException or IOException or TimeoutException or DrmException or InvalidOperationException)
{
    Console.Error.WriteLine($"wlshow: {e.Message}");
    return 4;
}

static int ShowAndVerify(DmaBufClient client, WaylandDmaBuffer buffer, uint seed, Stopwatch clock, string from)
{
    client.Present(buffer);
    var shot = client.TakeScreenshot();
    uint w = buffer.Description.Width, h = buffer.Description.Height;
    var (bad, first) = TestImage.Compare(shot, w, h, seed);
    Console.WriteLine(bad == 0
        ? $"frame {seed} ({buffer.Proxy}): screenshot {shot.Width}x{shot.Height} equals the client's {(long)w * h} pixels; {clock.Elapsed.TotalMilliseconds:0} ms from {from} to verified screenshot"
        : $"frame {seed} ({buffer.Proxy}): screenshot differs in {bad} of {(long)w * h} pixels; first {first}");
    return bad == 0 ? 0 : 1;
}
