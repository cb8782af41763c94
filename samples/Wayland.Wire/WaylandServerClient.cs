using System.Net.Sockets;

namespace Wayland.Wire;

/// <summary>
/// One client of a <see cref="WaylandServer"/>: its object table (the client's ids as it chose them, checked as
/// libwayland checks them; the server's from <see cref="WaylandClient.ServerIdStart"/>), requests in, events out. A
/// message that breaks the protocol, a request the compositor refuses (<see cref="PostError"/>) or a handler that
/// throws costs this client only: it gets <c>wl_display.error</c> and is disconnected, its objects destroyed
/// (<see cref="WaylandResource.Destroyed"/> runs for each) and its queued fds closed.
/// </summary>
public sealed class WaylandServerClient : IDisposable
{
    private readonly Dictionary<uint, WaylandResource> _objects = [];
    private uint _nextServerId = WaylandClient.ServerIdStart;
    private uint _clientIdLimit = 2; // the next new client id; libwayland refuses ids beyond it (no gaps)

    internal WaylandServerClient(WaylandServer server, Socket socket)
    {
        Server = server;
        Wire = new WireConnection(socket, nonBlockingSends: true); // one client that stops reading must not stall the others
        Display = new WaylandResource(this, 1, WlDisplay.Interface, 1);
        _objects[1] = Display;
    }

    public WaylandServer Server { get; }

    /// <summary>The framing underneath.</summary>
    public WireConnection Wire { get; }

    /// <summary>The client's <c>wl_display</c> (id 1).</summary>
    public WaylandResource Display { get; }

    public bool IsClosed { get; private set; }

    /// <summary>Why the client was disconnected: the protocol error sent to it, or that it hung up.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>The client's process id (SO_PEERCRED), or null.</summary>
    public int? ProcessId => IsClosed ? null : Wire.PeerProcessId;

    /// <summary>The live objects.</summary>
    public IReadOnlyCollection<WaylandResource> Resources => _objects.Values;

    /// <summary>Raised once when the client is disconnected, after its objects were destroyed.</summary>
    public event Action<WaylandServerClient>? Closed;

    public WaylandResource? Find(uint id) => _objects.GetValueOrDefault(id);

    /// <summary>A server-created object (a new_id in an event), id from 0xff000000 up.</summary>
    public WaylandResource CreateServerResource(WireInterface @interface, uint version)
    {
        if (_nextServerId == uint.MaxValue)
        {
            throw new InvalidOperationException("the server-side id space of this client is used up");
        }

        var r = new WaylandResource(this, _nextServerId++, @interface, version);
        _objects[r.Id] = r;
        return r;
    }

    /// <summary>
    /// Sends <c>wl_display.error</c> naming <paramref name="target"/>, flushes it and disconnects the client; later
    /// calls do nothing.
    /// </summary>
    public void PostError(WaylandResource target, uint code, string message)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (IsClosed)
        {
            return;
        }

        string reason = $"protocol error {code} ({target.Interface.ErrorName(code) ?? "?"}) on {target}: {message}";
        try
        {
            WlDisplay.SendError(Display, target, code, message);
            Wire.Flush();
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            // the client is gone already; it is disconnected either way
        }

        Close(reason);
    }

    /// <summary>
    /// Sends the queued events, as far as the client's socket takes them now (the rest waits for the next Flush); a
    /// client whose sending failed or who leaves too much unread is disconnected.
    /// </summary>
    public void Flush()
    {
        if (IsClosed)
        {
            return;
        }

        try
        {
            Wire.Flush();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Close($"sending failed: {e.Message}"); // disposed: its socket was closed under it
        }
    }

    /// <summary>Disconnects: destroys every object (newest first), closes the socket and the fds still queued.</summary>
    public void Close(string reason)
    {
        if (IsClosed)
        {
            return;
        }

        IsClosed = true;
        CloseReason = reason;
        foreach (WaylandResource r in _objects.Values.OrderByDescending(r => r.Id).ToList())
        {
            r.DestroyWithClient();
        }

        _objects.Clear();
        Wire.Dispose();
        Closed?.Invoke(this);
    }

    public void Dispose() => Close("closed by the server");

    public override string ToString() => $"client {(ProcessId is { } pid ? $"pid {pid}" : "(closed)")}";

    /// <summary>
    /// Reads what the client sent (one recvmsg) and dispatches every complete request. Call it when the socket is
    /// readable (<see cref="WaylandServer.Dispatch"/> does; a compositor with its own loop awaits readability itself);
    /// a hang-up closes the client.
    /// </summary>
    public void ReceiveAndDispatch()
    {
        if (IsClosed)
        {
            return;
        }

        int received;
        try
        {
            received = Wire.Receive();
        }
        catch (WaylandWireException e)
        {
            PostError(Display, (uint)e.Code, e.Message);
            return;
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            Close($"receiving failed: {e.Message}");
            return;
        }

        ProcessMessages();
        if (received == 0)
        {
            Close("the client disconnected");
        }
    }

    /// <summary>A new_id from the client: not 0, not a server id, not in use, and no gap after the ids it used.</summary>
    internal WaylandResource AddClientResource(uint id, WireInterface @interface, uint version, MessageSite what)
    {
        if (id == 0 || id >= WaylandClient.ServerIdStart || _objects.ContainsKey(id) || id > _clientIdLimit)
        {
            throw new WaylandWireException(WlDisplay.Error.InvalidObject, $"{what}: invalid new id {id}");
        }

        _clientIdLimit = Math.Max(_clientIdLimit, id + 1);
        var r = new WaylandResource(this, id, @interface, version);
        _objects[id] = r;
        return r;
    }

    internal void Remove(WaylandResource r)
    {
        _objects.Remove(r.Id);
        if (!IsClosed && r.Id < WaylandClient.ServerIdStart)
        {
            WlDisplay.SendDeleteId(Display, r.Id);
        }
    }

    private void ProcessMessages()
    {
        try
        {
            while (!IsClosed && Wire.TryPeek(out uint id, out ushort opcode, out int size))
            {
                WaylandResource r = Find(id) ?? throw new WaylandWireException(WlDisplay.Error.InvalidObject, $"invalid object {id}");
                if (opcode >= r.Interface.Requests.Count)
                {
                    throw new WaylandWireException(WlDisplay.Error.InvalidMethod, $"invalid method {opcode}, object {r}");
                }

                WireMessage m = r.Interface.Requests[opcode];
                if (m.Since > r.Version)
                {
                    throw new WaylandWireException(WlDisplay.Error.InvalidMethod, $"invalid method {opcode} ({m.Name}, since {m.Since} > {r.Version}), object {r}");
                }

                if (!Wire.HasFdsFor(m))
                {
                    return; // its fds come with a later chunk
                }

                try
                {
                    WireReader args = Wire.Read(m, size, null, this, new MessageSite(r, m.Name));
                    r.Dispatch(opcode, ref args);
                }
                catch (WaylandWireException)
                {
                    throw;
                }
#pragma warning disable CA1031 // a compositor's handler that fails costs its client, never the other clients
                catch (Exception e)
#pragma warning restore CA1031
                {
                    PostError(Display, (uint)WlDisplay.Error.Implementation, $"{r}.{m.Name} failed in the compositor: {e.Message}");
                }
                finally
                {
                    Wire.Consume(size);
                }
            }
        }
        catch (WaylandWireException e)
        {
            PostError(Display, (uint)e.Code, e.Message);
        }
    }
}
