using Wayland.Wire;

namespace WlShow;

/// <summary>Which shell wlshow asks for: xdg-shell unless only the fullscreen shell is there, or the user says.</summary>
public enum ShellChoice
{
    Auto,
    Xdg,
    Fullscreen,
}

/// <summary>The role that puts wlshow's surface on the output, full screen.</summary>
internal abstract class SurfaceRole
{
    public abstract string Name { get; }

    /// <summary>The size the compositor asked for (0 × 0: the client's choice).</summary>
    public (int Width, int Height) ConfiguredSize { get; protected set; }

    /// <summary>Before each commit: acknowledge what the compositor configured.</summary>
    public virtual void BeforeCommit()
    {
    }

    /// <summary>Throws when the compositor closed the window.</summary>
    public virtual void ThrowIfClosed()
    {
    }
}

/// <summary><c>zwp_fullscreen_shell_v1.present_surface</c>: no configure, the output's size.</summary>
internal sealed class FullscreenShellRole : SurfaceRole
{
    public FullscreenShellRole(WaylandProxy shell, WaylandProxy surface, WaylandProxy output)
    {
        ZwpFullscreenShellV1.PresentSurface(shell, surface, (uint)ZwpFullscreenShellV1.PresentMethod.Default, output);
    }

    public override string Name => "zwp_fullscreen_shell_v1 (present_surface)";
}

/// <summary>
/// An xdg_toplevel asked to be full screen on the output: the first commit carries no buffer, the compositor answers
/// with <c>configure</c>, every configure is acknowledged before the next commit, <c>ping</c> gets <c>pong</c>, and
/// <c>close</c> ends the show.
/// </summary>
internal sealed class XdgToplevelRole : SurfaceRole, XdgWmBase.IEvents, XdgSurface.IEvents, XdgToplevel.IEvents
{
    private readonly WaylandProxy _xdgSurface;
    private (int Width, int Height) _pendingSize;
    private uint? _unacked;
    private bool _closed;

    public XdgToplevelRole(WaylandClient connection, WaylandProxy wmBase, WaylandProxy surface, WaylandProxy output)
    {
        XdgWmBase.Listen(wmBase, this);
        _xdgSurface = XdgWmBase.GetXdgSurface(wmBase, surface);
        XdgSurface.Listen(_xdgSurface, this);
        WaylandProxy toplevel = XdgSurface.GetToplevel(_xdgSurface);
        XdgToplevel.Listen(toplevel, this);
        XdgToplevel.SetTitle(toplevel, "wlshow");
        XdgToplevel.SetAppId(toplevel, "wlshow");
        XdgToplevel.SetFullscreen(toplevel, output);
        WlSurface.Commit(surface); // no buffer yet: asks for the first configure
        connection.WaitFor(() => Configures > 0, $"the first configure of {toplevel}");
    }

    public override string Name => $"xdg_wm_base v{_xdgSurface.Version} (fullscreen xdg_toplevel)";

    /// <summary>Configures received.</summary>
    public int Configures { get; private set; }

    /// <summary>Pings answered.</summary>
    public int Pongs { get; private set; }

    /// <summary>The toplevel's states in the last configure include fullscreen.</summary>
    public bool IsFullscreen { get; private set; }

    public override void BeforeCommit()
    {
        ThrowIfClosed();
        if (_unacked is { } serial)
        {
            XdgSurface.AckConfigure(_xdgSurface, serial);
            _unacked = null;
        }
    }

    public override void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new OperationCanceledException("The compositor closed wlshow's window (xdg_toplevel.close).");
        }
    }

    void XdgWmBase.IEvents.Ping(WaylandProxy self, uint serial)
    {
        XdgWmBase.Pong(self, serial);
        Pongs++;
    }

    void XdgSurface.IEvents.Configure(WaylandProxy self, uint serial)
    {
        _unacked = serial;
        ConfiguredSize = _pendingSize;
        Configures++;
    }

    void XdgToplevel.IEvents.Configure(WaylandProxy self, int width, int height, ReadOnlySpan<byte> states)
    {
        _pendingSize = (Math.Max(width, 0), Math.Max(height, 0));
        IsFullscreen = false;
        for (int i = 0; i + 4 <= states.Length; i += 4)
        {
            IsFullscreen |= BitConverter.ToUInt32(states[i..]) == (uint)XdgToplevel.State.Fullscreen;
        }
    }

    void XdgToplevel.IEvents.Close(WaylandProxy self) => _closed = true;
}
