namespace Wayland.Wire;

/// <summary>
/// A protocol object on the client side. Requests go out through the generated static methods of its interface
/// (<c>WlSurface.Attach(surface, …)</c>); events come in to the handler given to <c>Listen</c>.
/// </summary>
public sealed class WaylandProxy : WireObject<WaylandProxy>
{
    internal WaylandProxy(WaylandClient connection, uint id, WireInterface @interface, uint version)
        : base(id, @interface, version) => Connection = connection;

    public WaylandClient Connection { get; }

    /// <summary>A destructor was sent (or received); events still in flight for it are dropped.</summary>
    public bool IsDestroyed { get; internal set; }

    /// <summary>Used by generated code: routes the proxy's events to a typed handler.</summary>
    public static void Listen(WaylandProxy target, WireInterface @interface, object handler, WireDispatcher<WaylandProxy> dispatch) =>
        Route(target, @interface, handler, dispatch);

    /// <summary>Used by generated code: starts a request on this object.</summary>
    public WireWriter BeginRequest(ushort opcode)
    {
        ObjectDisposedException.ThrowIf(IsDestroyed, this);
        _ = Outgoing(Interface.Requests, opcode);
        return Connection.Wire.Begin(Id, opcode);
    }

    /// <summary>Used by generated code: queues the request; after a destructor the object is gone.</summary>
    public void EndRequest(WireWriter wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        WireMessage m = Interface.Requests[wire.Opcode];
        Connection.EndRequest(wire, new MessageSite(this, m.Name));
        IsDestroyed |= m.IsDestructor;
    }

    /// <summary>An event no handler takes is dropped (its fds closed by the connection).</summary>
    internal void Dispatch(ushort opcode, ref WireReader args) => TryDispatch(opcode, ref args);
}
