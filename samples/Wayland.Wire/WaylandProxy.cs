namespace Wayland.Wire;

/// <summary>How generated code hands a message to a handler: the handler, the object, the opcode, the arguments.</summary>
public delegate void WireDispatcher<in TTarget>(object handler, TTarget self, ushort opcode, ref WireReader args);

/// <summary>
/// A protocol object on the client side. Requests go out through the generated static methods of its interface
/// (<c>WlSurface.Attach(surface, …)</c>); events come in to the handler given to <c>Listen</c>.
/// </summary>
public sealed class WaylandProxy
{
    private object? _handler;
    private WireDispatcher<WaylandProxy>? _dispatch;

    internal WaylandProxy(WaylandClient connection, uint id, WireInterface @interface, uint version)
    {
        Connection = connection;
        Id = id;
        Interface = @interface;
        Version = version;
    }

    public WaylandClient Connection { get; }

    public uint Id { get; }

    public WireInterface Interface { get; }

    public uint Version { get; }

    /// <summary>A destructor was sent (or received); events still in flight for it are dropped.</summary>
    public bool IsDestroyed { get; internal set; }

    /// <summary>Used by generated code: routes the proxy's events to a typed handler.</summary>
    public static void Listen(WaylandProxy proxy, WireInterface @interface, object handler, WireDispatcher<WaylandProxy> dispatch)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(@interface);
        if (proxy.Interface != @interface)
        {
            throw new ArgumentException($"{proxy} is not a {@interface.Name}", nameof(proxy));
        }

        proxy._handler = handler;
        proxy._dispatch = dispatch;
    }

    /// <summary>Used by generated code: starts a request on this object.</summary>
    public WireWriter BeginRequest(ushort opcode)
    {
        ObjectDisposedException.ThrowIf(IsDestroyed, this);
        WireMessage m = Interface.Requests[opcode];
        if (m.Since > Version)
        {
            throw new InvalidOperationException($"{this}.{m.Name} needs version {m.Since}; the object has version {Version}.");
        }

        return Connection.Wire.Begin(Id, opcode);
    }

    /// <summary>Used by generated code: queues the request; after a destructor the object is gone.</summary>
    public void EndRequest(WireWriter wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        WireMessage m = Interface.Requests[wire.Opcode];
        Connection.EndRequest(wire, $"{this}.{m.Name}");
        if (m.IsDestructor)
        {
            IsDestroyed = true;
        }
    }

    internal void Dispatch(ushort opcode, ref WireReader args)
    {
        if (_dispatch is not null && _handler is not null)
        {
            _dispatch(_handler, this, opcode, ref args);
        }
    }

    public override string ToString() => $"{Interface.Name}@{Id}";
}
