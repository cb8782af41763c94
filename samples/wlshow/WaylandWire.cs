using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using PrimeInterop;

namespace WlShow;

/// <summary>
/// The compositor reported a fatal protocol error (<c>wl_display.error</c>) or rejected a buffer (a
/// <c>zwp_linux_buffer_params_v1.failed</c> event). Names the object (interface@id), the code and its name.
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

    internal WaylandProtocolException(string objectName, uint? code, string? codeName, string message)
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

/// <summary>A protocol object on the client side: its id, interface, version and what to do with its events.</summary>
public sealed class WaylandObject
{
    internal WaylandObject(uint id, string @interface, uint version)
    {
        Id = id;
        Interface = @interface;
        Version = version;
    }

    public uint Id { get; }

    public string Interface { get; }

    public uint Version { get; }

    /// <summary>Called with each event's opcode and arguments.</summary>
    public Action<ushort, WireReader>? OnEvent { get; set; }

    public override string ToString() => $"{Interface}@{Id}";
}

/// <summary>
/// Builds one request: 32-bit words, little-endian on x86 (the wire uses host byte order), strings and arrays
/// length-prefixed and padded to 4 bytes; fds go out of band (SCM_RIGHTS) in argument order.
/// </summary>
public sealed class WireWriter
{
    private readonly List<byte> _bytes = [];
    private readonly List<SafeHandle> _fds = [];

    public IReadOnlyList<SafeHandle> Fds => _fds;

    public WireWriter Uint(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _bytes.AddRange(b);
        return this;
    }

    public WireWriter Int(int value) => Uint(unchecked((uint)value));

    public WireWriter Object(WaylandObject? value) => Uint(value?.Id ?? 0);

    public WireWriter NewId(WaylandObject value) => Uint(value.Id);

    public WireWriter String(string value)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(value);
        Uint((uint)utf8.Length + 1);
        _bytes.AddRange(utf8);
        _bytes.Add(0);
        Pad();
        return this;
    }

    public WireWriter Fd(SafeHandle fd)
    {
        _fds.Add(fd);
        return this;
    }

    internal byte[] ToMessage(uint objectId, ushort opcode)
    {
        int size = 8 + _bytes.Count;
        if (size > ushort.MaxValue)
        {
            throw new ArgumentException($"A Wayland message is at most 65535 bytes, not {size}.");
        }

        byte[] message = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(message, objectId);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(4), ((uint)size << 16) | opcode);
        _bytes.CopyTo(message, 8);
        return message;
    }

    private void Pad()
    {
        while (_bytes.Count % 4 != 0)
        {
            _bytes.Add(0);
        }
    }
}

/// <summary>Reads one event's arguments; every length is checked against the message, so a bad one throws.</summary>
public sealed class WireReader(ReadOnlyMemory<byte> args)
{
    private int _offset;

    public uint Uint()
    {
        if (_offset + 4 > args.Length)
        {
            throw new InvalidDataException($"Wayland event too short: argument at byte {_offset} of {args.Length}.");
        }

        uint v = BinaryPrimitives.ReadUInt32LittleEndian(args.Span[_offset..]);
        _offset += 4;
        return v;
    }

    public int Int() => unchecked((int)Uint());

    public string? String()
    {
        uint length = Uint(); // with the terminating NUL; 0 is a null string
        if (length == 0)
        {
            return null;
        }

        if (length > args.Length - _offset)
        {
            throw new InvalidDataException($"Wayland string of {length} bytes overruns its {args.Length}-byte event.");
        }

        string s = Encoding.UTF8.GetString(args.Span.Slice(_offset, (int)length - 1));
        _offset += (int)((length + 3) & ~3u);
        return s;
    }
}

/// <summary>
/// One client connection: a stream socket to the compositor, the client's object table, requests out and events
/// in. Single-threaded: whoever waits for something calls <see cref="Dispatch"/>. A <c>wl_display.error</c> is
/// fatal: it is thrown from the dispatch that reads it and from every later call.
/// </summary>
public sealed class WaylandConnection : IDisposable
{
    private readonly Socket _socket;
    private readonly Dictionary<uint, WaylandObject> _objects = [];
    private readonly Func<string, uint, string?> _errorName;
    private byte[] _in = new byte[8192];
    private int _inLength;
    private uint _nextId = 2;
    private WaylandProtocolException? _fatal;

    private WaylandConnection(Socket socket, Func<string, uint, string?> errorName)
    {
        _socket = socket;
        _errorName = errorName;
        Display = new WaylandObject(1, "wl_display", 1);
        _objects[1] = Display;
        Display.OnEvent = OnDisplayEvent;
    }

    public WaylandObject Display { get; }

    /// <summary>Requests sent so far (a refused buffer must leave this unchanged).</summary>
    public long RequestsSent { get; private set; }

    /// <summary>Fds that arrived with events and were closed (no event this client knows carries one).</summary>
    public int UnexpectedFdsClosed { get; private set; }

    /// <summary>How long a wait may take before it throws <see cref="TimeoutException"/>.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Connects to <paramref name="path"/> (a UNIX socket, e.g. $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY).</summary>
    public static WaylandConnection Connect(string path, Func<string, uint, string?> errorName)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return new WaylandConnection(socket, errorName);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Wraps a connected stream socket (tests use a socketpair as a fake compositor).</summary>
    internal static WaylandConnection FromSocket(Socket socket, Func<string, uint, string?> errorName) => new(socket, errorName);

    /// <summary>The peer's process id (SO_PEERCRED), or null when the kernel does not say.</summary>
    public int? PeerProcessId
    {
        get
        {
            byte[] ucred = new byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
            const int SOL_SOCKET = 1, SO_PEERCRED = 17;
            return _socket.GetRawSocketOption(SOL_SOCKET, SO_PEERCRED, ucred) == 12 ? BinaryPrimitives.ReadInt32LittleEndian(ucred) : null;
        }
    }

    /// <summary>A new client-side object (its id is sent with a new_id argument).</summary>
    public WaylandObject NewObject(string @interface, uint version)
    {
        var o = new WaylandObject(_nextId++, @interface, version);
        _objects[o.Id] = o;
        return o;
    }

    /// <summary>Sends one request to <paramref name="target"/>, its fds with its first byte.</summary>
    public void Send(WaylandObject target, ushort opcode, WireWriter args)
    {
        ThrowIfFatal();
        byte[] message = args.ToMessage(target.Id, opcode);
        try
        {
            int sent = args.Fds.Count > 0
                ? _socket.SendWithFds(message, [.. args.Fds])
                : _socket.Send(message);
            while (sent < message.Length)
            {
                sent += _socket.Send(message.AsSpan(sent));
            }
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            // A compositor closes the connection right after a protocol error: report the error if it is there.
            try
            {
                while (_fatal is null)
                {
                    Dispatch(DateTime.UtcNow);
                }
            }
            catch (Exception) when (_fatal is null)
            {
            }

            ThrowIfFatal();
            throw new IOException($"Sending request {opcode} to {target} failed; the compositor closed the connection? ({e.Message})", e);
        }

        RequestsSent++;
    }

    /// <summary>Reads what the compositor sent (waiting up to <see cref="Timeout"/>) and runs the handlers.</summary>
    public void Dispatch(DateTime deadline)
    {
        ThrowIfFatal();
        int waitMicroseconds = (int)Math.Clamp((deadline - DateTime.UtcNow).TotalMicroseconds, 0, int.MaxValue);
        if (!_socket.Poll(waitMicroseconds, SelectMode.SelectRead))
        {
            throw new TimeoutException("The compositor did not answer in time.");
        }

        if (_inLength == _in.Length)
        {
            Array.Resize(ref _in, _in.Length * 2); // a message is at most 64 KiB, so this stops at 128 KiB
        }

        using (ReceivedFds received = _socket.ReceiveWithFds(_in.AsSpan(_inLength)))
        {
            UnexpectedFdsClosed += received.Count; // disposing closes them
            if (received.BytesReceived == 0)
            {
                throw new IOException("The compositor closed the connection.");
            }

            _inLength += received.BytesReceived;
        }

        int offset = 0;
        while (_inLength - offset >= 8)
        {
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(_in.AsSpan(offset));
            uint word = BinaryPrimitives.ReadUInt32LittleEndian(_in.AsSpan(offset + 4));
            int size = (int)(word >> 16);
            if (size < 8 || size % 4 != 0)
            {
                throw new InvalidDataException($"Malformed Wayland event header: object {id}, size {size}.");
            }

            if (_inLength - offset < size)
            {
                break;
            }

            byte[] args = _in.AsSpan(offset + 8, size - 8).ToArray();
            offset += size;
            if (_objects.TryGetValue(id, out WaylandObject? target))
            {
                target.OnEvent?.Invoke((ushort)(word & 0xffff), new WireReader(args));
            }

            ThrowIfFatal();
        }

        Buffer.BlockCopy(_in, offset, _in, 0, _inLength - offset);
        _inLength -= offset;
    }

    /// <summary>Dispatches until <paramref name="done"/> holds; throws <see cref="TimeoutException"/> naming <paramref name="what"/>.</summary>
    public void WaitFor(Func<bool> done, string what)
    {
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (!done())
        {
            try
            {
                Dispatch(deadline);
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"Waited {Timeout.TotalSeconds:0} s for {what}.", e);
            }
        }
    }

    /// <summary><c>wl_display.sync</c> and wait for its callback: every earlier request has been handled.</summary>
    public void Roundtrip(string what = "a wl_display.sync round trip")
    {
        WaylandObject callback = NewObject("wl_callback", 1);
        bool done = false;
        callback.OnEvent = (_, _) => done = true;
        Send(Display, 0, new WireWriter().NewId(callback)); // wl_display.sync(callback)
        WaitFor(() => done, what);
    }

    public void Dispose() => _socket.Dispose();

    private void OnDisplayEvent(ushort opcode, WireReader args)
    {
        switch (opcode)
        {
            case 0: // error(object_id object, uint code, string message)
                uint objectId = args.Uint();
                uint code = args.Uint();
                string message = args.String() ?? "";
                string name = _objects.TryGetValue(objectId, out var o) ? o.ToString() : $"object@{objectId}";
                string? codeName = objectId == 1 ? DisplayErrorName(code) : _errorName(o?.Interface ?? "", code);
                _fatal = new WaylandProtocolException(name, code, codeName, message);
                break;
            case 1: // delete_id(uint id)
                _objects.Remove(args.Uint());
                break;
        }
    }

    private static string? DisplayErrorName(uint code) => code switch
    {
        0 => "wl_display.error.invalid_object",
        1 => "wl_display.error.invalid_method",
        2 => "wl_display.error.no_memory",
        3 => "wl_display.error.implementation",
        _ => null,
    };

    private void ThrowIfFatal()
    {
        if (_fatal is not null)
        {
            throw _fatal; // the connection is dead after a protocol error: every call reports the same one
        }
    }

    internal static string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);
}
