using Wayland.Wire;

namespace PrimeComp;

/// <summary>
/// <c>xdg_wm_base</c> v1: an xdg_surface and toplevel role for a surface, and the configure handshake — the first
/// commit (without a buffer) is answered with a configure, and a buffer may be committed only after the client acked
/// it (<c>unconfigured_buffer</c> otherwise).
/// </summary>
internal sealed class XdgShell(Compositor compositor) : XdgWmBase.IRequests, XdgSurface.IRequests, XdgToplevel.IRequests
{
    void XdgWmBase.IRequests.GetXdgSurface(WaylandResource self, WaylandResource id, WaylandResource surface)
    {
        var s = (Surface)surface.Data!;
        if (s.Xdg is not null || s.Committed is not null)
        {
            self.PostError((uint)(s.Xdg is not null ? XdgWmBase.Error.Role : XdgWmBase.Error.InvalidSurfaceState), $"{surface} has {(s.Xdg is not null ? "a role" : "a buffer")} already");
            return;
        }

        var role = new XdgRole(compositor, id);
        s.Xdg = role;
        id.Data = role;
        id.Destroyed += _ => s.Xdg = null;
        XdgSurface.Implement(id, this);
    }

    void XdgWmBase.IRequests.Pong(WaylandResource self, uint serial)
    {
    }

    void XdgSurface.IRequests.GetToplevel(WaylandResource self, WaylandResource id)
    {
        ((XdgRole)self.Data!).Toplevel = id;
        XdgToplevel.Implement(id, this);
    }

    void XdgSurface.IRequests.AckConfigure(WaylandResource self, uint serial)
    {
        var role = (XdgRole)self.Data!;
        if (serial != role.Serial)
        {
            self.PostError((uint)XdgSurface.Error.InvalidSerial, $"ack_configure({serial}); the last configure was {role.Serial}");
            return;
        }

        role.Acked = true;
    }

    void XdgSurface.IRequests.SetWindowGeometry(WaylandResource self, int x, int y, int width, int height)
    {
    }

    void XdgToplevel.IRequests.SetTitle(WaylandResource self, string title)
    {
    }

    void XdgToplevel.IRequests.SetAppId(WaylandResource self, string appId)
    {
    }
}

/// <summary>An xdg_surface's state: its toplevel and where the configure handshake is.</summary>
internal sealed class XdgRole(Compositor compositor, WaylandResource resource)
{
    public WaylandResource Resource { get; } = resource;

    public WaylandResource? Toplevel { get; set; }

    public uint Serial { get; private set; }

    public bool Acked { get; set; }

    /// <summary>Before a commit is applied: false when it must not be (an error was posted, or it was the initial one).</summary>
    public bool OnCommit(bool hasBuffer)
    {
        if (Serial == 0)
        {
            if (Toplevel is null || hasBuffer)
            {
                Resource.PostError((uint)(Toplevel is null ? XdgSurface.Error.NotConstructed : XdgSurface.Error.UnconfiguredBuffer),
                    Toplevel is null ? "committed before get_toplevel" : "a buffer was committed before the first configure");
                return false;
            }

            // The initial commit: the compositor chooses the size (0x0: the client's own), no states.
            XdgToplevel.SendConfigure(Toplevel, 0, 0, []);
            Serial = compositor.NextSerial();
            XdgSurface.SendConfigure(Resource, Serial);
            return true;
        }

        if (hasBuffer && !Acked)
        {
            Resource.PostError((uint)XdgSurface.Error.UnconfiguredBuffer, "a buffer was committed before ack_configure");
            return false;
        }

        return true;
    }
}
