namespace Wayland.Wire;

/// <summary>
/// The peer reported a fatal protocol error (<c>wl_display.error</c>) or refused something (a <c>failed</c> event).
/// Names the object (interface@id), the code and its name from the interface's error enum.
/// </summary>
public sealed class WaylandProtocolException : Exception
{
    public WaylandProtocolException()
    {
    }

    public WaylandProtocolException(string message)
        : base(message)
    {
    }

    public WaylandProtocolException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public WaylandProtocolException(string objectName, uint? code, string? codeName, string message)
        : base(code is null
            ? $"{objectName}: {message}"
            : $"{objectName}: protocol error {code} ({codeName ?? "unknown code"}): {message}")
    {
        ObjectName = objectName;
        Code = code;
        CodeName = codeName;
    }

    /// <summary>The object the error is about, as <c>interface@id</c>.</summary>
    public string ObjectName { get; } = "";

    /// <summary>The error code of <c>wl_display.error</c>; null for a <c>failed</c> event.</summary>
    public uint? Code { get; }

    /// <summary>The code's name from the interface's error enum, when known.</summary>
    public string? CodeName { get; }
}

/// <summary>
/// A message that breaks the wire protocol: a bad header, arguments that do not match the signature, an unknown
/// object or opcode, missing fds. A server answers it with <c>wl_display.error</c> (<see cref="Code"/>) and drops
/// that client; a client's connection is dead after it.
/// </summary>
public sealed class WaylandWireException : IOException
{
    public WaylandWireException()
    {
    }

    public WaylandWireException(string message)
        : base(message)
    {
    }

    public WaylandWireException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public WaylandWireException(WlDisplay.Error code, string message)
        : base(message) => Code = code;

    /// <summary>The <c>wl_display.error</c> code a server sends for it.</summary>
    public WlDisplay.Error Code { get; } = WlDisplay.Error.InvalidMethod;
}
