namespace Wayland.Wire;

/// <summary>wayland.xml's argument types.</summary>
public enum WireArgType : byte
{
    Int,
    Uint,
    Fixed,
    String,
    Object,
    NewId,
    Array,
    Fd,
}

/// <summary>One argument of a message: name, type, the interface of an object or new_id, whether null is allowed.</summary>
public sealed record WireArg(string Name, WireArgType Type, string? Interface, bool Nullable);

/// <summary>A request or event as the XML declares it.</summary>
/// <param name="Since">The object version from which the message exists.</param>
/// <param name="IsDestructor">The message destroys the object it is sent on.</param>
public sealed record WireMessage(string Name, uint Since, bool IsDestructor, IReadOnlyList<WireArg> Args)
{
    /// <summary>How many fds the message takes from the connection's fd queue.</summary>
    public int FdCount { get; } = Args.Count(a => a.Type == WireArgType.Fd);
}

/// <summary>An interface's signature: the framing and checking of its messages needs nothing else.</summary>
/// <param name="Requests">Indexed by opcode.</param>
/// <param name="Events">Indexed by opcode.</param>
/// <param name="Errors">The interface's <c>error</c> enum.</param>
public sealed record WireInterface(string Name, uint Version, IReadOnlyList<WireMessage> Requests, IReadOnlyList<WireMessage> Events, IReadOnlyList<(uint Code, string Name)> Errors)
{
    /// <summary>The name of error <paramref name="code"/> from the interface's <c>error</c> enum, or null.</summary>
    public string? ErrorName(uint code) => Errors.FirstOrDefault(e => e.Code == code).Name;

    /// <summary>An interface this library has no XML for (a client may bind any name): no messages.</summary>
    internal static WireInterface Unknown(string name) => new(name, 0, [], [], []);

    public override string ToString() => Name;
}
