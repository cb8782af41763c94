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
public sealed class WireMessage
{
    public WireMessage(string name, uint since, bool isDestructor, WireArg[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        Name = name;
        Since = since;
        IsDestructor = isDestructor;
        Args = args;
        FdCount = args.Count(a => a.Type == WireArgType.Fd);
    }

    public string Name { get; }

    /// <summary>The object version from which the message exists.</summary>
    public uint Since { get; }

    /// <summary>The message destroys the object it is sent on.</summary>
    public bool IsDestructor { get; }

    public IReadOnlyList<WireArg> Args { get; }

    /// <summary>How many fds the message takes from the connection's fd queue.</summary>
    public int FdCount { get; }
}

/// <summary>An interface's signature: the framing and checking of its messages needs nothing else.</summary>
public sealed class WireInterface
{
    private readonly (uint Code, string Name)[] _errors;

    public WireInterface(string name, uint version, WireMessage[] requests, WireMessage[] events, (uint Code, string Name)[] errors)
    {
        Name = name;
        Version = version;
        Requests = requests;
        Events = events;
        _errors = errors;
    }

    public string Name { get; }

    public uint Version { get; }

    /// <summary>Indexed by opcode.</summary>
    public IReadOnlyList<WireMessage> Requests { get; }

    /// <summary>Indexed by opcode.</summary>
    public IReadOnlyList<WireMessage> Events { get; }

    /// <summary>The name of error <paramref name="code"/> from the interface's <c>error</c> enum, or null.</summary>
    public string? ErrorName(uint code) => _errors.FirstOrDefault(e => e.Code == code).Name;

    /// <summary>An interface this library has no XML for (a client may bind any name): no messages.</summary>
    internal static WireInterface Unknown(string name) => new(name, 0, [], [], []);

    public override string ToString() => Name;
}
