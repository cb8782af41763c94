using System.Net.Sockets;

namespace Wayland.Wire;

/// <summary>
/// A client's connection to a compositor: the object table (client ids from 2 up; the compositor's from
/// <see cref="ServerIdStart"/>), requests out and events in. Single-threaded: whoever waits for something calls
/// <see cref="Dispatch"/> (or <see cref="WaitFor"/>). A <c>wl_display.error</c> or a malformed event is fatal: it is
/// thrown from the dispatch that reads it and from every later call.
/// </summary>
public sealed class WaylandClient : IDisposable
{
    /// <summary>The first id of objects the compositor creates (libwayland's WL_SERVER_ID_START).</summary>
    public const uint ServerIdStart = 0xff000000;

    private readonly Dictionary<uint, WaylandProxy> _objects = [];
    private uint _nextId = 2;
    private Exception? _fatal;

    private WaylandClient(Socket socket)
    {
        Wire = new WireConnection(socket);
        Display = new WaylandProxy(this, 1, WlDisplay.Interface, 1);
        _objects[1] = Display;
        WlDisplay.Listen(Display, new DisplayEvents(this));
    }

    /// <summary>The framing underneath (message and fd counters).</summary>
    public WireConnection Wire { get; }

    public WaylandProxy Display { get; }

    /// <summary>Requests queued so far (a refused buffer must leave this unchanged).</summary>
    public long RequestsSent => Wire.MessagesSent;

    /// <summary>How long a wait may take before it throws <see cref="TimeoutException"/>.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The compositor's process id (SO_PEERCRED), or null when the kernel does not say.</summary>
    public int? PeerProcessId => Wire.PeerProcessId;

    /// <summary>Connects to <paramref name="path"/> (a UNIX socket, e.g. $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY).</summary>
    public static WaylandClient Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return new WaylandClient(socket);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"No Wayland compositor to connect to at {path}: {(File.Exists(path) ? "it does not accept connections" : "no such socket")} ({e.SocketErrorCode}); is the compositor running, and WAYLAND_DISPLAY/XDG_RUNTIME_DIR right?", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Wraps a connected stream socket (a socketpair with an in-process server, in tests); owns it.</summary>
    public static WaylandClient FromSocket(Socket socket) => new(socket ?? throw new ArgumentNullException(nameof(socket)));

    /// <summary>$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY (wayland-0 when unset), as libwayland finds it.</summary>
    public static string DefaultSocketPath()
    {
        string display = Environment.GetEnvironmentVariable("WAYLAND_DISPLAY") is { Length: > 0 } d ? d : "wayland-0";
        if (Path.IsPathRooted(display))
        {
            return display;
        }

        string runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR")
            ?? throw new InvalidOperationException("XDG_RUNTIME_DIR is not set, so there is no Wayland socket to find; pass the socket path.");
        return Path.Combine(runtime, display);
    }

    /// <summary>The live or destroyed-but-not-yet-deleted object with this id, or null.</summary>
    public WaylandProxy? Find(uint id) => _objects.GetValueOrDefault(id);

    /// <summary>Sends every queued request. A compositor that hung up after a protocol error: that error is thrown.</summary>
    public void Flush()
    {
        ThrowIfFatal();
        try
        {
            Wire.Flush();
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            // A compositor closes the connection right after a protocol error: report the error if it is there.
            try
            {
                while (_fatal is null && Wire.WaitReadable(TimeSpan.FromSeconds(1)) && Wire.Receive() > 0)
                {
                    ProcessMessages();
                }
            }
            catch (Exception) when (_fatal is null)
            {
            }

            ThrowIfFatal();
            throw new IOException($"Sending to the compositor failed; it closed the connection? ({e.Message})", e);
        }
    }

    /// <summary>Sends what is queued, waits for the compositor (until <paramref name="deadline"/>), runs the handlers.</summary>
    public void Dispatch(DateTime deadline)
    {
        Flush();
        if (!Wire.WaitReadable(deadline - DateTime.UtcNow))
        {
            throw new TimeoutException("The compositor did not answer in time.");
        }

        int received;
        try
        {
            received = Wire.Receive();
        }
        catch (WaylandWireException e)
        {
            _fatal = e;
            throw;
        }

        ProcessMessages();
        if (received == 0)
        {
            _fatal = new IOException("The compositor closed the connection.");
            throw _fatal;
        }
    }

    /// <summary>Dispatches until <paramref name="done"/> holds; throws <see cref="TimeoutException"/> naming <paramref name="what"/>.</summary>
    public void WaitFor(Func<bool> done, string what)
    {
        ArgumentNullException.ThrowIfNull(done);
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (!done())
        {
            try
            {
                Dispatch(deadline);
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"Waited {Timeout.TotalSeconds:0.#} s for {what}.", e);
            }
        }
    }

    /// <summary><c>wl_display.sync</c> and wait for its callback: every earlier request has been handled.</summary>
    public void Roundtrip(string what = "a wl_display.sync round trip")
    {
        var done = new CallbackDone();
        WlCallback.Listen(WlDisplay.Sync(Display), done);
        WaitFor(() => done.Done, what);
    }

    public void Dispose()
    {
        Wire.Dispose();
        _fatal ??= new ObjectDisposedException(nameof(WaylandClient));
    }

    internal WaylandProxy CreateProxy(WireInterface @interface, uint version)
    {
        var proxy = new WaylandProxy(this, _nextId++, @interface, version);
        _objects[proxy.Id] = proxy;
        return proxy;
    }

    /// <summary>An object the compositor created (a new_id in an event): it must use a server-side id.</summary>
    internal WaylandProxy AddServerProxy(uint id, WireInterface @interface, uint version)
    {
        if (id < ServerIdStart || (_objects.TryGetValue(id, out var old) && !old.IsDestroyed))
        {
            throw new WaylandWireException(WlDisplay.Error.InvalidObject, $"the compositor's new {@interface.Name} has id {id}, which is not a free server-side id");
        }

        var proxy = new WaylandProxy(this, id, @interface, version);
        _objects[id] = proxy;
        return proxy;
    }

    internal void EndRequest(WireWriter wire, MessageSite what)
    {
        try
        {
            ThrowIfFatal();
            Wire.End(wire, what);
        }
        catch
        {
            wire.ReleaseFds();
            throw;
        }
    }

    private void ProcessMessages()
    {
        try
        {
            while (_fatal is null && Wire.TryPeek(out uint id, out ushort opcode, out int size))
            {
                WaylandProxy proxy = _objects.GetValueOrDefault(id) ?? throw new WaylandWireException(WlDisplay.Error.InvalidObject, $"event {opcode} for object {id}, which never existed");
                if (opcode >= proxy.Interface.Events.Count)
                {
                    throw new WaylandWireException(WlDisplay.Error.InvalidMethod, $"{proxy} has no event {opcode}");
                }

                WireMessage m = proxy.Interface.Events[opcode];
                if (!Wire.HasFdsFor(m))
                {
                    return; // its fds come with a later chunk
                }

                if (proxy.IsDestroyed)
                {
                    Wire.Skip(m, size);
                    continue;
                }

                if (m.Since > proxy.Version)
                {
                    throw new WaylandWireException(WlDisplay.Error.InvalidMethod, $"{proxy}.{m.Name} is from version {m.Since}; the object has version {proxy.Version}");
                }

                try
                {
                    WireReader args = Wire.Read(m, size, this, null, new MessageSite(proxy, m.Name));
                    proxy.Dispatch(opcode, ref args);
                }
                finally
                {
                    Wire.Consume(size);
                }

                proxy.IsDestroyed |= m.IsDestructor;
            }
        }
        catch (WaylandWireException e)
        {
            _fatal ??= e;
        }

        ThrowIfFatal();
    }

    private void ThrowIfFatal()
    {
        if (_fatal is not null)
        {
            throw _fatal; // the connection is dead after a protocol error: every call reports the same one
        }
    }

    private sealed class CallbackDone : WlCallback.IEvents
    {
        public bool Done { get; private set; }

        void WlCallback.IEvents.Done(WaylandProxy self, uint callbackData) => Done = true;
    }

    private sealed class DisplayEvents(WaylandClient client) : WlDisplay.IEvents
    {
        void WlDisplay.IEvents.Error(WaylandProxy self, WaylandProxy objectId, uint code, string message)
        {
            string? codeName = objectId.Interface.ErrorName(code);
            client._fatal ??= new WaylandProtocolException(objectId.ToString(), code, codeName is null ? null : $"{codeName}", message);
        }

        void WlDisplay.IEvents.DeleteId(WaylandProxy self, uint id)
        {
            if (id != 1)
            {
                client._objects.Remove(id);
            }
        }
    }
}
