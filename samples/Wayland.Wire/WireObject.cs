namespace Wayland.Wire;

/// <summary>How generated code hands a message to a handler: the handler, the object, the opcode, the arguments.</summary>
public delegate void WireDispatcher<in TTarget>(object handler, TTarget self, ushort opcode, ref WireReader args);

/// <summary>
/// A protocol object on either side: its id, interface and version, and the typed handler (set by generated code)
/// its incoming messages go to. <see cref="WaylandProxy"/> is the client's, <see cref="WaylandResource"/> the server's.
/// </summary>
public abstract class WireObject<TSelf>
    where TSelf : WireObject<TSelf>
{
    private object? _handler;
    private WireDispatcher<TSelf>? _dispatch;

    private protected WireObject(uint id, WireInterface @interface, uint version)
    {
        Id = id;
        Interface = @interface;
        Version = version;
    }

    public uint Id { get; }

    public WireInterface Interface { get; }

    public uint Version { get; }

    public override string ToString() => $"{Interface.Name}@{Id}";

    /// <summary>Used by generated code: routes the object's incoming messages to a typed handler.</summary>
    private protected static void Route(TSelf target, WireInterface @interface, object handler, WireDispatcher<TSelf> dispatch)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(@interface);
        if (target.Interface.Name != @interface.Name)
        {
            throw new ArgumentException($"{target} is not a {@interface.Name}", nameof(target));
        }

        target._handler = handler;
        target._dispatch = dispatch;
    }

    /// <summary>Message <paramref name="opcode"/> of <paramref name="messages"/>, which must exist at this object's version.</summary>
    private protected WireMessage Outgoing(IReadOnlyList<WireMessage> messages, ushort opcode)
    {
        WireMessage m = messages[opcode];
        return m.Since <= Version ? m : throw new InvalidOperationException($"{this}.{m.Name} is from version {m.Since}; the object has version {Version}.");
    }

    /// <summary>Hands a message to the handler; false when there is none.</summary>
    private protected bool TryDispatch(ushort opcode, ref WireReader args)
    {
        if (_dispatch is null || _handler is null)
        {
            return false;
        }

        _dispatch(_handler, (TSelf)this, opcode, ref args);
        return true;
    }
}
