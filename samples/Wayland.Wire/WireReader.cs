using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Wayland.Wire;

/// <summary>
/// Reads one message's arguments in order. Every length is checked against the message, and a message that does not
/// match its signature throws <see cref="WaylandWireException"/>. The fds of the message were taken from the
/// connection's queue before reading; they become the handler's at <see cref="End"/>, and any the handler did not
/// get are closed by the dispatcher.
/// </summary>
public ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _args;
    private readonly SafeFileHandle?[] _fds;
    private readonly int _fdCount;
    private readonly WaylandClient? _client;
    private readonly WaylandServerClient? _server;
    private readonly MessageSite _what;
    private int _offset;
    private int _nextFd;

    internal WireReader(ReadOnlySpan<byte> args, SafeFileHandle?[] fds, int fdCount, WaylandClient? client, WaylandServerClient? server, MessageSite what)
    {
        _args = args;
        _fds = fds;
        _fdCount = fdCount;
        _client = client;
        _server = server;
        _what = what;
    }

    public uint Uint()
    {
        if (_args.Length - _offset < 4)
        {
            throw Invalid($"ends at byte {_args.Length}, an argument at byte {_offset} is missing");
        }

        uint v = BinaryPrimitives.ReadUInt32LittleEndian(_args[_offset..]);
        _offset += 4;
        return v;
    }

    public int Int() => unchecked((int)Uint());

    public double Fixed() => Int() / 256.0;

    public string String() => NullableString() ?? throw Invalid("a string that may not be null is null");

    public string? NullableString()
    {
        uint length = Uint(); // with the terminating NUL; 0 is a null string
        if (length == 0)
        {
            return null;
        }

        ReadOnlySpan<byte> bytes = Bytes(length, "string");
        if (bytes[^1] != 0)
        {
            throw Invalid("a string is not NUL-terminated");
        }

        return Encoding.UTF8.GetString(bytes[..^1]);
    }

    /// <summary>An array's bytes, valid while the handler runs (they are the receive buffer's).</summary>
    public ReadOnlySpan<byte> Array() => Bytes(Uint(), "array");

    /// <summary>The next fd of the message (its fd arguments in order).</summary>
    public SafeFileHandle Fd()
    {
        if (_nextFd >= _fdCount)
        {
            throw Invalid("more fd arguments than fds taken for it"); // the signature counted them: a bug, not the peer
        }

        return _fds[_nextFd++]!;
    }

    /// <summary>Client side: an object argument. An id that names no object of this client is a protocol violation.</summary>
    public WaylandProxy? Proxy(bool nullable)
    {
        uint id = Uint();
        if (id == 0)
        {
            return nullable ? null : throw Invalid("null object for an argument that may not be null");
        }

        return Client.Find(id) ?? throw Invalid($"object {id} does not exist");
    }

    /// <summary>Client side: a new_id from the compositor, which must be a server-side id.</summary>
    public WaylandProxy NewProxy(WireInterface @interface, uint version) => Client.AddServerProxy(Uint(), @interface, version);

    /// <summary>
    /// Server side: an object argument, checked as libwayland checks it: an unknown id or one of another interface is
    /// <c>invalid_object</c>; null where the XML does not allow it is <c>invalid_method</c>.
    /// </summary>
    public WaylandResource? Resource(string? @interface, bool nullable)
    {
        uint id = Uint();
        if (id == 0)
        {
            return nullable ? null : throw Invalid("null object for an argument that may not be null");
        }

        WaylandResource? r = Server.Find(id);
        if (r is null)
        {
            throw new WaylandWireException(WlDisplay.Error.InvalidObject, $"{_what}: unknown object {id}");
        }

        if (@interface is not null && r.Interface.Name != @interface)
        {
            throw new WaylandWireException(WlDisplay.Error.InvalidObject, $"{_what}: object {r} is not a {@interface}");
        }

        return r;
    }

    /// <summary>Server side: a typed new_id, the client's new object (its id checked as libwayland checks it).</summary>
    public WaylandResource NewResource(WireInterface @interface, uint version) => Server.AddClientResource(Uint(), @interface, version, _what);

    /// <summary>Server side: an untyped new_id (interface name, version, id), as <c>wl_registry.bind</c> sends it.</summary>
    public WaylandResource NewResource()
    {
        string name = String();
        uint version = Uint();
        return Server.AddClientResource(Uint(), WireProtocols.Find(name) ?? WireInterface.Unknown(name), version, _what);
    }

    /// <summary>Checks that the message had nothing more, and gives the fds read to the handler.</summary>
    public void End()
    {
        if (_offset != _args.Length)
        {
            throw Invalid($"{_args.Length - _offset} bytes after the last argument");
        }

        for (int i = 0; i < _fdCount; i++)
        {
            _fds[i] = null; // the handler's now
        }
    }

    internal static WaylandWireException UnknownOpcode(WireInterface @interface, ushort opcode) =>
        new(WlDisplay.Error.InvalidMethod, $"{@interface.Name} has no message {opcode}");

    private readonly WaylandClient Client => _client ?? throw new InvalidOperationException("a client-side read on a server connection");

    private readonly WaylandServerClient Server => _server ?? throw new InvalidOperationException("a server-side read on a client connection");

    private ReadOnlySpan<byte> Bytes(uint length, string kind)
    {
        if (length > (uint)(_args.Length - _offset) || WireWriter.Pad((int)length) > _args.Length - _offset)
        {
            throw Invalid($"a {kind} of {length} bytes (padded to 4) overruns the message");
        }

        ReadOnlySpan<byte> bytes = _args.Slice(_offset, (int)length);
        _offset += WireWriter.Pad((int)length);
        return bytes;
    }

    private readonly WaylandWireException Invalid(string problem) => new(WlDisplay.Error.InvalidMethod, $"{_what}: {problem}");
}
