using Wayland.Wire;

namespace PrimeComp;

/// <summary>
/// A <c>wl_surface</c>: attach, damage, frame and commit, double-buffered as the protocol says. A commit makes the
/// attached buffer the surface's <see cref="Committed"/> one and its frame callbacks due, and asks for a repaint; the
/// repaint loop puts the committed buffer on a plane and, after the flip, makes it <see cref="OnScreen"/>.
/// </summary>
internal sealed class Surface : WlSurface.IRequests
{
    private readonly Compositor _compositor;
    private readonly List<WaylandResource> _pendingCallbacks = [];
    private ClientBuffer? _pendingBuffer;
    private bool _attached;

    public Surface(Compositor compositor, WaylandResource resource)
    {
        _compositor = compositor;
        Resource = resource;
        resource.Data = this;
        resource.Destroyed += _ => OnDestroyed();
        WlSurface.Implement(resource, this);
    }

    public WaylandResource Resource { get; }

    /// <summary>The buffer of the last commit (held), shown by the next repaint.</summary>
    public ClientBuffer? Committed { get; private set; }

    /// <summary>The buffer on the screen now (held); set by the repaint loop after a flip.</summary>
    public ClientBuffer? OnScreen { get; set; }

    /// <summary>Frame callbacks of commits not painted yet: done after the next flip.</summary>
    public List<WaylandResource> DueCallbacks { get; } = [];

    /// <summary>The xdg_surface role, when the client gave it one.</summary>
    public XdgRole? Xdg { get; set; }

    public bool IsDestroyed { get; private set; }

    /// <summary>Where the last repaint put it: the plane's index (-1: on no plane) and its position on the CRTC.</summary>
    public (int Plane, int X, int Y) Placement { get; set; } = (-1, 0, 0);

    /// <summary>How many of its buffers reached the screen.</summary>
    public int FramesShown { get; set; }

    void WlSurface.IRequests.Attach(WaylandResource self, WaylandResource? buffer, int x, int y)
    {
        if (buffer is not null && buffer.Data is not ClientBuffer)
        {
            self.Client.PostError(self.Client.Display, (uint)WlDisplay.Error.InvalidObject, $"{self}.attach: {buffer} is not a buffer of this compositor");
            return;
        }

        _pendingBuffer = buffer?.Data as ClientBuffer;
        _attached = true;
    }

    void WlSurface.IRequests.Damage(WaylandResource self, int x, int y, int width, int height)
    {
        // Planes show whole buffers: every commit repaints all of the surface.
    }

    void WlSurface.IRequests.Frame(WaylandResource self, WaylandResource callback) => _pendingCallbacks.Add(callback);

    void WlSurface.IRequests.SetOpaqueRegion(WaylandResource self, WaylandResource? region)
    {
    }

    void WlSurface.IRequests.SetInputRegion(WaylandResource self, WaylandResource? region)
    {
    }

    void WlSurface.IRequests.Commit(WaylandResource self)
    {
        ClientBuffer? buffer = _pendingBuffer is { IsDisposed: false } b ? b : null; // one the client destroyed before this commit is no buffer
        if (Xdg is { } xdg && !xdg.OnCommit(_attached && buffer is not null))
        {
            return;
        }

        if (_attached)
        {
            ClientBuffer? replaced = Committed;
            Committed = buffer?.Hold();
            replaced?.Drop(); // released now if it never reached the screen
            _attached = false;
            _pendingBuffer = null;
        }

        DueCallbacks.AddRange(_pendingCallbacks);
        _pendingCallbacks.Clear();
        _compositor.ScheduleRepaint();
    }

    public override string ToString() => Resource.ToString();

    private void OnDestroyed()
    {
        IsDestroyed = true;
        ClientBuffer? committed = Committed;
        Committed = null;
        committed?.Drop();
        _pendingBuffer = null;
        _pendingCallbacks.Clear();
        DueCallbacks.Clear();
        _compositor.ScheduleRepaint(); // its plane goes; OnScreen is dropped after that flip
    }
}
