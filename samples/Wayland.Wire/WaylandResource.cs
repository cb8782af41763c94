namespace Wayland.Wire;

/// <summary>
/// A protocol object on the server side, owned by one client. Events go out through the generated static
/// <c>Send…</c> methods of its interface; requests come in to the handler given to <c>Implement</c>.
/// </summary>
public sealed class WaylandResource
{
    private object? _handler;
    private WireDispatcher<WaylandResource>? _dispatch;

    internal WaylandResource(WaylandServerClient client, uint id, WireInterface @interface, uint version)
    {
        Client = client;
        Id = id;
        Interface = @interface;
        Version = version;
    }

    public WaylandServerClient Client { get; }

    public uint Id { get; }

    public WireInterface Interface { get; }

    public uint Version { get; }

    /// <summary>What the compositor keeps with the object (its surface state, its imported buffer …).</summary>
    public object? Data { get; set; }

    public bool IsDestroyed { get; private set; }

    /// <summary>Raised once when the object goes: destroyed by a request, by the server, or with its client.</summary>
    public event Action<WaylandResource>? Destroyed;

    /// <summary>Used by generated code: routes the resource's requests to a typed handler.</summary>
    public static void Implement(WaylandResource resource, WireInterface @interface, object handler, WireDispatcher<WaylandResource> dispatch)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(@interface);
        if (resource.Interface.Name != @interface.Name)
        {
            throw new ArgumentException($"{resource} is not a {@interface.Name}", nameof(resource));
        }

        resource._handler = handler;
        resource._dispatch = dispatch;
    }

    /// <summary>Used by generated code: starts an event on this object.</summary>
    public WireWriter BeginEvent(ushort opcode)
    {
        WireMessage m = Interface.Events[opcode];
        if (m.Since > Version)
        {
            throw new InvalidOperationException($"{this}.{m.Name} is from version {m.Since}; the client bound version {Version}.");
        }

        return Client.Wire.Begin(Id, opcode);
    }

    /// <summary>Used by generated code: queues the event; a destructor event destroys the object.</summary>
    public void EndEvent(WireWriter wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        WireMessage m = Interface.Events[wire.Opcode];
        Client.Wire.End(wire, $"{this}.{m.Name}");
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
        if (_dispatch is null || _handler is null)
        {
            Client.PostError(Client.Display, (uint)WlDisplay.Error.Implementation, $"{this} has no implementation in this compositor");
            return;
        }

        _dispatch(_handler, this, opcode, ref args);
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

    public override string ToString() => $"{Interface.Name}@{Id}";
}
