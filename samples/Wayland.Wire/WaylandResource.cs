namespace Wayland.Wire;

/// <summary>
/// A protocol object on the server side, owned by one client. Events go out through the generated static
/// <c>Send…</c> methods of its interface; requests come in to the handler given to <c>Implement</c>.
/// </summary>
public sealed class WaylandResource : WireObject<WaylandResource>
{
    internal WaylandResource(WaylandServerClient client, uint id, WireInterface @interface, uint version)
        : base(id, @interface, version) => Client = client;

    public WaylandServerClient Client { get; }

    /// <summary>What the compositor keeps with the object (its surface state, its imported buffer …).</summary>
    public object? Data { get; set; }

    public bool IsDestroyed { get; private set; }

    /// <summary>Raised once when the object goes: destroyed by a request, by the server, or with its client.</summary>
    public event Action<WaylandResource>? Destroyed;

    /// <summary>Used by generated code: routes the resource's requests to a typed handler.</summary>
    public static void Implement(WaylandResource target, WireInterface @interface, object handler, WireDispatcher<WaylandResource> dispatch) =>
        Route(target, @interface, handler, dispatch);

    /// <summary>Used by generated code: starts an event on this object.</summary>
    public WireWriter BeginEvent(ushort opcode)
    {
        _ = Outgoing(Interface.Events, opcode);
        return Client.Wire.Begin(Id, opcode);
    }

    /// <summary>Used by generated code: queues the event; a destructor event destroys the object.</summary>
    public void EndEvent(WireWriter wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        WireMessage m = Interface.Events[wire.Opcode];
        Client.Wire.End(wire, new MessageSite(this, m.Name));
        if (m.IsDestructor)
        {
            Destroy();
        }
    }

    /// <summary>
    /// Sends <c>wl_display.error</c> about this object and disconnects its client (after flushing the error).
    /// </summary>
    public void PostError(uint code, string message) => Client.PostError(this, code, message);

    /// <summary>The default of a request the server does not implement: <c>wl_display.error.implementation</c>.</summary>
    public void NotImplemented(ushort opcode) =>
        Client.PostError(Client.Display, (uint)WlDisplay.Error.Implementation, $"{this}.{Interface.Requests[opcode].Name} is not implemented by this compositor");

    /// <summary>Destroys the object: <c>wl_display.delete_id</c> for a client-created id, then <see cref="Destroyed"/>.</summary>
    public void Destroy()
    {
        if (IsDestroyed)
        {
            return;
        }

        IsDestroyed = true;
        Client.Remove(this);
        Destroyed?.Invoke(this);
    }

    internal void Dispatch(ushort opcode, ref WireReader args)
    {
        if (!TryDispatch(opcode, ref args))
        {
            Client.PostError(Client.Display, (uint)WlDisplay.Error.Implementation, $"{this} has no implementation in this compositor");
        }
    }

    /// <summary>Marks the object gone without a message (its client disconnected) and tells who listens.</summary>
    internal void DestroyWithClient()
    {
        if (!IsDestroyed)
        {
            IsDestroyed = true;
            Destroyed?.Invoke(this);
        }
    }
}
