using System.Diagnostics;
using System.Text;

namespace PrimeComp;

/// <summary>
/// One unmodified weston-simple-dmabuf-egl (Debian's weston package): Mesa GBM allocates its buffers on the DRM node
/// it is given (a primary node: Mesa's kms_swrast makes dumb buffers, which render nodes refuse), EGL/GLES draws, and
/// linux-dmabuf sends them. Its clock is frozen with native/clock-freeze.c so that every frame shows the same picture.
/// </summary>
internal sealed class SimpleDmabufEglClient : IDisposable
{
    public const string Program = "weston-simple-dmabuf-egl";

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SimpleDmabufEglClient(Process process, string card, bool immediate)
    {
        _process = process;
        Card = card;
        Immediate = immediate;
    }

    public int ProcessId => _process.Id;

    /// <summary>The node its buffers are allocated on.</summary>
    public string Card { get; }

    /// <summary>It makes its buffers with create_immed (-i 1), else with create and the created event.</summary>
    public bool Immediate { get; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>What it printed (Mesa's loader warnings, its own messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts it against the compositor at <paramref name="runtimeDirectory"/>/<paramref name="display"/>.</summary>
    public static SimpleDmabufEglClient Start(string runtimeDirectory, string display, string card, int size, bool immediate, string? clockShim)
    {
        var psi = new ProcessStartInfo(Program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["-d", card, "-s", size.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", immediate ? "1" : "0"])
        {
            psi.ArgumentList.Add(a);
        }

        // Only what a Wayland client needs: no inherited display, the compositor's runtime directory and socket.
        foreach (string name in (string[])["WAYLAND_DISPLAY", "WAYLAND_SOCKET", "DISPLAY"])
        {
            psi.Environment.Remove(name);
        }

        psi.Environment["XDG_RUNTIME_DIR"] = runtimeDirectory;
        psi.Environment["WAYLAND_DISPLAY"] = display;
        if (clockShim is not null)
        {
            psi.Environment["LD_PRELOAD"] = Path.GetFullPath(clockShim);
        }

        Process process = System.Diagnostics.Process.Start(psi) ?? throw new InvalidOperationException($"{Program} did not start");
        var client = new SimpleDmabufEglClient(process, card, immediate);
        process.OutputDataReceived += (_, e) => client.Append(e.Data);
        process.ErrorDataReceived += (_, e) => client.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return client;
    }

    /// <summary>Completes when it exits.</summary>
    public Task ExitedAsync() => _process.WaitForExitAsync();

    /// <summary>Waits for it to exit (the compositor disconnected it), killing it after <paramref name="timeout"/>; false if it had to be killed.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (_process.WaitForExit(timeout))
        {
            _process.WaitForExit(); // the output's end, too
            return true;
        }

        _process.Kill();
        _process.WaitForExit();
        return false;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            WaitForExit(TimeSpan.Zero);
        }

        _process.Dispose();
    }

    public override string ToString() => $"{Program} pid {ProcessId} on {Card}{(Immediate ? " (create_immed)" : "")}";

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}
