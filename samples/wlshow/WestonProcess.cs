using System.Diagnostics;
using Wayland.Wire;

namespace WlShow;

/// <summary>Which weston 10 backend to run.</summary>
public enum WestonBackend
{
    /// <summary><c>headless-backend.so --use-gl</c>: no display; GL through Mesa on the render node (vgem in the rig).</summary>
    Headless,

    /// <summary><c>drm-backend.so</c> on a KMS card (vkms in the rig): real scan-out.</summary>
    Drm,
}

/// <summary>Which weston shell to load.</summary>
public enum WestonShell
{
    /// <summary><c>desktop-shell.so</c> (weston's default): xdg-shell, a panel and a background.</summary>
    Desktop,

    /// <summary><c>fullscreen-shell.so</c>: zwp_fullscreen_shell_v1 only.</summary>
    Fullscreen,
}

/// <summary>
/// A weston 10 with a shell and the debug protocols (for weston_screenshooter), in a private XDG_RUNTIME_DIR (mode
/// 0700). Dispose stops it (SIGTERM, then SIGKILL) and removes the runtime directory.
/// </summary>
public sealed class WestonProcess : IDisposable
{
    private readonly Process _process;
    private bool _disposed;

    private WestonProcess(Process process, string runtimeDirectory, WestonBackend backend, WestonShell shell)
    {
        _process = process;
        RuntimeDirectory = runtimeDirectory;
        Backend = backend;
        Shell = shell;
    }

    public WestonBackend Backend { get; }

    public WestonShell Shell { get; }

    /// <summary>The private XDG_RUNTIME_DIR, removed on dispose.</summary>
    public string RuntimeDirectory { get; }

    public string SocketPath => Path.Combine(RuntimeDirectory, "wayland-0");

    public string LogPath => Path.Combine(RuntimeDirectory, "weston.log");

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>From process start to the first completed round trip on its socket.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>
    /// Starts weston and waits until it answers a round trip. <paramref name="drmCard"/> is the card for the DRM
    /// backend (e.g. "card1"); <paramref name="width"/>×<paramref name="height"/> is the headless output's size.
    /// </summary>
    public static WestonProcess Start(WestonBackend backend, string? drmCard = null, int width = 256, int height = 256, TimeSpan? timeout = null,
        WestonShell shell = WestonShell.Fullscreen)
    {
        string dir = Directory.CreateTempSubdirectory("wlshow-weston-").FullName; // created with mode 0700
        // Through sh only to send weston's stdout/stderr (Mesa's loader warnings) to a file; exec keeps the pid.
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >>\"$XDG_RUNTIME_DIR/weston.stdio\" 2>&1");
        psi.ArgumentList.Add("weston");
        psi.Environment["XDG_RUNTIME_DIR"] = dir;
        psi.Environment.Remove("WAYLAND_DISPLAY");
        psi.Environment.Remove("DISPLAY");
        if (backend == WestonBackend.Drm)
        {
            psi.ArgumentList.Add("--backend=drm-backend.so");
            psi.ArgumentList.Add($"--drm-device={drmCard ?? throw new ArgumentNullException(nameof(drmCard), "the DRM backend needs a card, e.g. card1")}");
            psi.ArgumentList.Add("--tty=1");
            psi.ArgumentList.Add("--continue-without-input");
        }
        else
        {
            psi.ArgumentList.Add("--backend=headless-backend.so");
            psi.ArgumentList.Add("--use-gl");
            psi.ArgumentList.Add($"--width={width}");
            psi.ArgumentList.Add($"--height={height}");
        }

        string config = "--no-config";
        if (shell == WestonShell.Desktop)
        {
            // The desktop shell fades the screen in at start and blanks it when idle; a screenshot must not see either.
            config = $"--config={Path.Combine(dir, "weston.ini")}";
            File.WriteAllText(Path.Combine(dir, "weston.ini"),
                "[core]\nidle-time=0\n[shell]\nstartup-animation=none\nanimation=none\nclose-animation=none\nfocus-animation=none\n");
        }

        string shellModule = shell == WestonShell.Desktop ? "desktop-shell.so" : "fullscreen-shell.so";
        foreach (string a in (string[])[$"--shell={shellModule}", config, "--debug", "--socket=wayland-0", $"--log={Path.Combine(dir, "weston.log")}"])
        {
            psi.ArgumentList.Add(a);
        }

        var clock = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("weston did not start");
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }

        var weston = new WestonProcess(process, dir, backend, shell);
        try
        {
            weston.WaitUntilReady(timeout ?? TimeSpan.FromSeconds(60));
            weston.StartupTime = clock.Elapsed;
            return weston;
        }
        catch
        {
            weston.Dispose();
            throw;
        }
    }

    /// <summary>What weston wrote to stdout/stderr (Mesa's warnings, a crash).</summary>
    public string StdioPath => Path.Combine(RuntimeDirectory, "weston.stdio");

    /// <summary>The last lines of weston's log and of its stderr (for error messages).</summary>
    public string LogTail(int lines = 25)
    {
        static string Tail(string path, int lines)
        {
            try
            {
                return string.Join('\n', File.ReadLines(path).TakeLast(lines));
            }
            catch (IOException)
            {
                return $"(no {Path.GetFileName(path)})";
            }
        }

        return Tail(LogPath, lines) + "\n--- stdout/stderr:\n" + Tail(StdioPath, 10);
    }

    /// <summary>Stops weston (SIGTERM, SIGKILL after 5 s) and removes its runtime directory.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            if (!_process.HasExited)
            {
                const int SIGTERM = 15;
                Signals.Send(_process.Id, SIGTERM); // lets the DRM backend give the card back cleanly
                if (!_process.WaitForExit(5000))
                {
                    _process.Kill();
                    _process.WaitForExit();
                }
            }
        }
        finally
        {
            _process.Dispose();
            if (Directory.Exists(RuntimeDirectory))
            {
                Directory.Delete(RuntimeDirectory, recursive: true);
            }
        }
    }

    private void WaitUntilReady(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"weston ({Backend}) ({Shell} shell) exited with {_process.ExitCode} while starting; its log:\n{LogTail()}");
            }

            if (File.Exists(SocketPath))
            {
                try
                {
                    using var connection = WaylandClient.Connect(SocketPath);
                    connection.Timeout = deadline - DateTime.UtcNow;
                    connection.Roundtrip("weston's first round trip");
                    return;
                }
                catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException)
                {
                    // the socket file exists before weston listens on it (Connect wraps the refusal)
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"weston ({Backend}) did not answer within {timeout.TotalSeconds:0} s; its log:\n{LogTail()}");
            }

            Thread.Sleep(50);
        }
    }
}
