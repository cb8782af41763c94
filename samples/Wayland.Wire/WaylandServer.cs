using System.Net.Sockets;

namespace Wayland.Wire;

/// <summary>A global a <see cref="WaylandServer"/> announces; <see cref="Bind"/> implements each client's new object.</summary>
public sealed class WaylandGlobal(uint name, WireInterface @interface, uint version, Action<WaylandResource> bind)
{
    /// <summary>The number clients bind it by.</summary>
    public uint Name { get; } = name;

    public WireInterface Interface { get; } = @interface;

    /// <summary>The highest version this server implements.</summary>
    public uint Version { get; } = version;

    /// <summary>Called with the client's new object (version checked) to implement it.</summary>
    public Action<WaylandResource> Bind { get; } = bind;
}

/// <summary>
/// The server side's primitives: a listening socket (optional), the clients, <c>wl_display</c> (sync,
/// get_registry, error, delete_id) and <c>wl_registry</c> (globals, bind with libwayland's checks). What each global
/// does is the compositor's. Single-threaded: call <see cref="Dispatch"/> in a loop.
/// </summary>
public sealed class WaylandServer : IDisposable
{
    private readonly List<WaylandServerClient> _clients = [];
    private readonly List<WaylandGlobal> _globals = [];
    private readonly List<WaylandResource> _registries = [];
    private readonly List<Socket> _readable = []; // Dispatch's select set, reused
    private Socket? _listener;
    private uint _nextGlobalName = 1;
    private uint _serial;

    /// <summary>The listening socket's path, or null for a server fed with <see cref="AddClient"/> only.</summary>
    public string? SocketPath { get; private set; }

    public IReadOnlyList<WaylandServerClient> Clients => _clients;

    public IReadOnlyList<WaylandGlobal> Globals => _globals;

    /// <summary>Raised for each new client, before any of its requests is dispatched.</summary>
    public event Action<WaylandServerClient>? ClientConnected;

    /// <summary>A server listening on <paramref name="socketPath"/> (a path that must not exist yet).</summary>
    public static WaylandServer Listen(string socketPath)
    {
        var server = new WaylandServer();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        server._listener = listener;
        server.SocketPath = socketPath;
        return server;
    }

    /// <summary>Serves a connected stream socket (one end of a socketpair, in tests); the server owns it.</summary>
    public WaylandServerClient AddClient(Socket socket)
    {
        var client = new WaylandServerClient(this, socket ?? throw new ArgumentNullException(nameof(socket)));
        WlDisplay.Implement(client.Display, new DisplayRequests(this));
        _clients.Add(client);
        ClientConnected?.Invoke(client);
        return client;
    }

    /// <summary>Announces a global to every client (now and later).</summary>
    public WaylandGlobal AddGlobal(WireInterface @interface, uint version, Action<WaylandResource> bind)
    {
        ArgumentNullException.ThrowIfNull(@interface);
        ArgumentOutOfRangeException.ThrowIfZero(version);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(version, @interface.Version);
        var global = new WaylandGlobal(_nextGlobalName++, @interface, version, bind);
        _globals.Add(global);
        foreach (WaylandResource registry in _registries)
        {
            WlRegistry.SendGlobal(registry, global.Name, @interface.Name, version);
        }

        return global;
    }

    /// <summary>Withdraws a global (<c>wl_registry.global_remove</c>); objects bound from it stay.</summary>
    public void RemoveGlobal(WaylandGlobal global)
    {
        if (_globals.Remove(global))
        {
            foreach (WaylandResource registry in _registries)
            {
                WlRegistry.SendGlobalRemove(registry, global!.Name);
            }
        }
    }

    /// <summary>A new event serial (for configure, ping …).</summary>
    public uint NextSerial() => ++_serial;

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for new clients and requests, dispatches them, flushes every client's
    /// events and forgets the clients that are gone. Returns whether anything was read.
    /// </summary>
    public bool Dispatch(TimeSpan timeout)
    {
        _readable.Clear();
        if (_listener is not null)
        {
            _readable.Add(_listener);
        }

        foreach (WaylandServerClient c in _clients)
        {
            _readable.Add(c.Wire.Socket);
        }

        bool any = false;
        if (_readable.Count > 0)
        {
            Socket.Select(_readable, null, null, (int)Math.Clamp(timeout.TotalMicroseconds, -1, int.MaxValue));
            foreach (Socket s in _readable)
            {
                any = true;
                if (s == _listener)
                {
                    AddClient(_listener.Accept());
                }
                else
                {
                    FindClient(s)?.ReceiveAndDispatch();
                }
            }
        }
        else
        {
            Thread.Sleep(timeout < TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : timeout);
        }

        FlushClients();
        return any;
    }

    /// <summary>Sends every client's queued events; forgets the disconnected.</summary>
    public void FlushClients()
    {
        foreach (WaylandServerClient c in _clients)
        {
            c.Flush();
        }

        _clients.RemoveAll(c => c.IsClosed);
    }

    /// <summary>Accepts one pending connection of the listening socket as a new client.</summary>
    /// <exception cref="InvalidOperationException">The server does not listen.</exception>
    public WaylandServerClient Accept() =>
        AddClient((_listener ?? throw new InvalidOperationException("this server does not listen on a socket")).Accept());

    /// <summary>The listening socket, for a compositor that waits for connections in its own loop; null if none.</summary>
    public Socket? Listener => _listener;

    /// <summary>Disconnects every client and stops listening (the socket file is removed).</summary>
    public void Dispose()
    {
        foreach (WaylandServerClient c in _clients.ToList())
        {
            c.Dispose();
        }

        _clients.Clear();
        _listener?.Dispose();
        if (SocketPath is not null)
        {
            File.Delete(SocketPath);
        }
    }

    private WaylandServerClient? FindClient(Socket socket)
    {
        foreach (WaylandServerClient c in _clients)
        {
            if (c.Wire.Socket == socket)
            {
                return c;
            }
        }

        return null;
    }

    private sealed class DisplayRequests(WaylandServer server) : WlDisplay.IRequests, WlRegistry.IRequests
    {
        void WlDisplay.IRequests.Sync(WaylandResource self, WaylandResource callback) => WlCallback.SendDone(callback, server.NextSerial());

        void WlDisplay.IRequests.GetRegistry(WaylandResource self, WaylandResource registry)
        {
            WlRegistry.Implement(registry, this);
            server._registries.Add(registry);
            registry.Destroyed += r => server._registries.Remove(r);
            foreach (WaylandGlobal g in server._globals)
            {
                WlRegistry.SendGlobal(registry, g.Name, g.Interface.Name, g.Version);
            }
        }

        void WlRegistry.IRequests.Bind(WaylandResource self, uint name, WaylandResource id)
        {
            WaylandGlobal? global = server._globals.FirstOrDefault(g => g.Name == name);
            if (global is null || global.Interface.Name != id.Interface.Name)
            {
                self.PostError((uint)WlDisplay.Error.InvalidObject, $"invalid global {id.Interface.Name} ({name})");
            }
            else if (id.Version == 0 || id.Version > global.Version)
            {
                self.PostError((uint)WlDisplay.Error.InvalidObject, $"invalid version for global {id.Interface.Name} ({name}): have {global.Version}, wanted {id.Version}");
            }
            else
            {
                global.Bind(id);
            }
        }
    }
}
