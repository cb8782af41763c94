using System.CommandLine;
using System.CommandLine.Invocation;
using System.Diagnostics;
using PrimeInterop;
using Wayland.Wire;

namespace WlShow;

/// <summary>
/// wlshow: shows a PrimeInterop dma-buf full screen on a Wayland compositor (linux-dmabuf-v1, xdg-shell or the
/// fullscreen shell) and verifies it through the compositor's capture protocol.
/// </summary>
internal static class Program
{
    public const int Verified = 0, Differs = 1, Usage = 2, Failed = 4;

    public static int Main(string[] args)
    {
        var weston = new Option<string?>("--weston")
        {
            Description = "Start weston 10 itself with this backend (headless: GL on the render node; drm: scan-out on a KMS card)",
            HelpName = "headless|drm",
        };
        weston.AcceptOnlyFromAmong("headless", "drm");
        var shell = new Option<string>("--shell")
        {
            Description = "The shell: xdg-shell (a fullscreen toplevel), the fullscreen shell, or auto (xdg-shell when offered)",
            HelpName = "auto|xdg|fullscreen",
            DefaultValueFactory = _ => "auto",
        };
        shell.AcceptOnlyFromAmong("auto", "xdg", "fullscreen");
        var socket = new Option<string?>("--socket")
        {
            Description = "The compositor's socket [default: $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY]",
            HelpName = "PATH",
        };
        var device = new Option<string?>("--device")
        {
            Description = "The DRM driver whose card makes the buffers [default: the compositor's main device (linux-dmabuf v4), else vkms for --weston drm, else vgem]",
            HelpName = "DRIVER",
        };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Seconds to wait for any answer of the compositor",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 30,
        };
        timeout.Validators.Add(r =>
        {
            // Only a value that parsed: one that did not already has its error.
            if (r.Tokens is [var token] && int.TryParse(token.Value, System.Globalization.CultureInfo.InvariantCulture, out int seconds) && seconds is < 1 or > 3600)
            {
                r.AddError("--timeout is 1 to 3600 seconds.");
            }
        });

        var root = new RootCommand("wlshow — shows a PrimeInterop dma-buf on a Wayland compositor and verifies every pixel (a PrimeInterop sample)\n\n" +
            "Exit codes: 0 verified, 1 pixels differ, 2 usage error, 4 other failure.")
        {
            weston, shell, socket, device, timeout,
        };
        root.SetAction(parse => Run(parse.GetValue(weston), parse.GetValue(shell)!, parse.GetValue(socket), parse.GetValue(device), parse.GetValue(timeout)));

        ParseResult result = root.Parse(args);
        if (result.Action is ParseErrorAction error)
        {
            // Errors on stderr; a usage error is exit 2 (System.CommandLine says 1).
            error.ShowHelp = false;
            error.ShowTypoCorrections = true;
            result.Invoke(new InvocationConfiguration { Output = Console.Error, Error = Console.Error });
            Console.Error.WriteLine("See 'wlshow --help'.");
            return Usage;
        }

        return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    private static int Run(string? westonMode, string shellName, string? socket, string? driver, int timeoutSeconds)
    {
        ShellChoice shell = shellName switch
        {
            "xdg" => ShellChoice.Xdg,
            "fullscreen" => ShellChoice.Fullscreen,
            _ => ShellChoice.Auto,
        };
        WestonBackend? backend = westonMode switch
        {
            "headless" => WestonBackend.Headless,
            "drm" => WestonBackend.Drm,
            _ => null,
        };

        try
        {
            WestonProcess? weston = null;
            if (backend is { } kind)
            {
                string? card = kind == WestonBackend.Drm
                    ? Path.GetFileName(DrmNode.Enumerate().FirstOrDefault(n => n.DriverName == (driver ?? "vkms") && n.Type == DrmNodeType.Primary)?.Path
                        ?? throw new InvalidOperationException($"no {driver ?? "vkms"} card for weston's DRM backend"))
                    : null;
                WestonShell westonShell = shell == ShellChoice.Fullscreen ? WestonShell.Fullscreen : WestonShell.Desktop;
                weston = WestonProcess.Start(kind, card, shell: westonShell);
                Console.WriteLine($"weston ({kind}{(card is null ? "" : " on " + card)}, {westonShell} shell) answered {weston.StartupTime.TotalSeconds:0.00} s after start");
            }

            using (weston)
            {
                using var client = DmaBufClient.Connect(socket ?? weston?.SocketPath, TimeSpan.FromSeconds(timeoutSeconds), shell);
                Console.WriteLine($"compositor: {client.CompositorName}, output {client.OutputMake} {client.OutputModel} {client.OutputWidth}x{client.OutputHeight}");
                client.ThrowIfNoDmaBuf();
                using DrmDevice card = OpenCard(client, driver, backend);
                DmaBufChoice choice = client.ChooseModifier(DrmFourcc.Xrgb8888, card.Path);
                Console.WriteLine($"dma-buf format: {choice.Explanation}");
                client.ShowSurface();
                Console.WriteLine($"shell: {client.ShellName}; capture: {client.CaptureName ?? "none"}");

                var (w, h) = client.SurfaceSize;
                using var a = new ClientBuffer(card, (uint)w, (uint)h, choice.Modifier);
                using var b = new ClientBuffer(card, (uint)w, (uint)h, choice.Modifier);

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
                Console.WriteLine(failures == 0
                    ? $"verified: {client.CompositorName} showed exactly the client's pixels through {client.ShellName}"
                    : "NOT verified");
                return failures == 0 ? Verified : Differs;
            }
        }
        catch (Exception e) when (e is WaylandProtocolException or NotSupportedException or IOException or TimeoutException or DrmException
            or InvalidOperationException or InvalidDataException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            Console.Error.WriteLine($"wlshow: {e.Message}");
            return Failed;
        }
    }

    /// <summary>
    /// The card to make buffers on: --device; else the primary node of the compositor's main device (v4 feedback
    /// names it); else the device the launched weston renders with (linux-dmabuf v3 cannot say which it is).
    /// </summary>
    private static DrmDevice OpenCard(DmaBufClient client, string? driver, WestonBackend? backend)
    {
        if (driver is not null)
        {
            return DrmDevice.OpenByDriver(driver, DrmNodeType.Primary);
        }

        if (client.MainDevicePrimaryNode() is { } node)
        {
            Console.WriteLine($"device: {node}, the compositor's main device {client.Feedback!.MainDevice} (linux-dmabuf v4 feedback)");
            return DrmDevice.Open(node);
        }

        string guess = backend == WestonBackend.Drm ? "vkms" : "vgem";
        Console.WriteLine(client.Feedback is null
            ? $"device: {guess} (linux-dmabuf v{client.DmaBufVersion} cannot name the compositor's device; --device chooses another)"
            : $"device: {guess} (the main device {client.Feedback.MainDevice} has no primary node here for dumb buffers; --device chooses another)");
        return DrmDevice.OpenByDriver(guess, DrmNodeType.Primary);
    }

    private static int ShowAndVerify(DmaBufClient client, WaylandDmaBuffer buffer, uint seed, Stopwatch clock, string from)
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
}
