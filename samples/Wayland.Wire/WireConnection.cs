using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PrimeInterop;

namespace Wayland.Wire;

/// <summary>
/// The framing of one Wayland connection, for either side: messages out into a buffer that <see cref="Flush"/> sends
/// with their fds (SCM_RIGHTS), bytes in from the socket and fds into one queue per connection. A message's fd
/// arguments take the next fds of that queue, wherever they arrived: with the message's bytes, with an earlier chunk,
/// or (while the message waits, see <see cref="HasFdsFor"/>) with a later one. Single-threaded.
/// </summary>
public sealed class WireConnection : IDisposable
{
    /// <summary>The largest message sent (libwayland 1.21 accepts no more: its connection buffer is 4096 bytes).</summary>
    public const int MaxMessageSize = 4096;

    /// <summary>Fds per sendmsg: libwayland's receiver has room for 28 (MAX_FDS_OUT) and loses the rest.</summary>
    public const int MaxFdsPerSend = 28;

    /// <summary>Fds waiting for their messages; a peer that sends more is cut off (libwayland's ring holds 1024).</summary>
    public const int MaxQueuedFds = 1024;

    /// <summary>Bytes a non-blocking connection keeps for a peer that does not read before it gives up on the peer.</summary>
    public const int MaxPendingOutput = 1024 * 1024;

    private const int OutFlushThreshold = 16 * 1024;

    // A sendmsg with fds goes out only when poll says the socket is writable (at most a quarter of its send buffer in
    // use for AF_UNIX), and carries at most this many bytes: far less than the free room, so it never waits.
    private const int FirstChunkWithFds = 4096;

    private readonly Socket _socket;
    private readonly byte[] _in = new byte[64 * 1024 + 2 * MaxMessageSize]; // a header's 16-bit size reaches 65535
    private readonly Queue<SafeFileHandle> _fdsIn = new();
    private readonly ArrayBufferWriter<byte> _out = new(OutFlushThreshold);
    private readonly List<SafeHandle> _fdsOut = [];
    private readonly WireWriter _writer = new();
    private SafeFileHandle?[] _messageFds = new SafeFileHandle?[4];
    private int _inStart;
    private int _inEnd;
    private int _outSent; // bytes of _out a non-blocking flush has sent already
    private IOException? _sendFailure; // a non-blocking send failed: every later Flush reports it
    private bool _disposed;

    public WireConnection(Socket socket, bool nonBlockingSends = false)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _socket = socket;
        NonBlockingSends = nonBlockingSends;
        if (nonBlockingSends)
        {
            socket.Blocking = false; // .NET's own Send then says WouldBlock instead of waiting
        }
    }

    /// <summary>
    /// Flush sends what the socket takes without waiting and keeps the rest for the next Flush; a peer that leaves more
    /// than <see cref="MaxPendingOutput"/> bytes unread fails the next Flush (a server then drops that client). For a
    /// server, whose one thread must never wait for one client.
    /// </summary>
    public bool NonBlockingSends { get; }

    /// <summary>Queued bytes not sent yet.</summary>
    public int PendingOutput => _out.WrittenCount - _outSent;

    public Socket Socket => _socket;

    /// <summary>Messages queued for sending so far.</summary>
    public long MessagesSent { get; private set; }

    /// <summary>Fds received and not yet taken by a message.</summary>
    public int QueuedFds => _fdsIn.Count;

    /// <summary>The peer's process id (SO_PEERCRED), or null when the kernel does not say.</summary>
    public int? PeerProcessId
    {
        get
        {
            byte[] ucred = new byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
            const int SOL_SOCKET = 1, SO_PEERCRED = 17;
            try
            {
                return _socket.GetRawSocketOption(SOL_SOCKET, SO_PEERCRED, ucred) == 12 ? BinaryPrimitives.ReadInt32LittleEndian(ucred) : null;
            }
            catch (SocketException)
            {
                return null;
            }
        }
    }

    /// <summary>Starts a message to <paramref name="objectId"/>; fill the writer, then <see cref="End"/>.</summary>
    public WireWriter Begin(uint objectId, ushort opcode)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _writer.Reset(objectId, opcode);
        return _writer;
    }

    /// <summary>
    /// Queues the message (flushing first when its fds or bytes would not fit into one send). On a non-blocking
    /// connection this never throws for the peer's sake: a send that failed, or a peer that stopped reading, is
    /// reported by the next <see cref="Flush"/>, and messages queued after that are dropped.
    /// </summary>
    /// <param name="writer">The message, from <see cref="Begin"/>.</param>
    /// <param name="site">Names the message in an error.</param>
    public void End(WireWriter writer, MessageSite site)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ReadOnlySpan<byte> message = writer.Finish(site);
        if (_fdsOut.Count + writer.Fds.Count > MaxFdsPerSend || _out.WrittenCount + message.Length > OutFlushThreshold)
        {
            try
            {
                FlushOrRecord();
            }
            catch
            {
                writer.ReleaseFds();
                throw;
            }
        }

        if (_sendFailure is not null || (NonBlockingSends && _fdsOut.Count + writer.Fds.Count > MaxFdsPerSend))
        {
            _sendFailure ??= new IOException($"more than {MaxFdsPerSend} fds wait for a peer that does not read");
            writer.ReleaseFds(); // the peer is dropped at the next Flush; this message would never reach it
            return;
        }

        _out.Write(message);
        writer.MoveFdsTo(_fdsOut);
        MessagesSent++;
    }

    /// <summary>
    /// Sends everything queued: the fds with the first byte (so they never arrive after their message), the rest of
    /// the bytes after them. Blocks while the socket's buffer is full, unless <see cref="NonBlockingSends"/>.
    /// </summary>
    /// <exception cref="IOException">Sending failed; on a non-blocking connection also when the peer has left more
    /// than <see cref="MaxPendingOutput"/> bytes unread.</exception>
    public void Flush()
    {
        if (_sendFailure is not null)
        {
            throw _sendFailure;
        }

        if (PendingOutput == 0)
        {
            return;
        }

        if (!NonBlockingSends)
        {
            try
            {
                ReadOnlySpan<byte> data = _out.WrittenSpan;
                int sent = _fdsOut.Count > 0 ? _socket.SendWithFds(data, CollectionsMarshal.AsSpan(_fdsOut)) : _socket.Send(data);
                while (sent < data.Length)
                {
                    sent += _socket.Send(data[sent..]);
                }
            }
            finally
            {
                ReleaseSentFds();
                _out.ResetWrittenCount();
            }

            return;
        }

        try
        {
            SendWithoutWaiting();
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            _sendFailure = e as IOException ?? new IOException(e.Message, e);
            throw _sendFailure;
        }

        if (PendingOutput > MaxPendingOutput)
        {
            _sendFailure = new IOException($"the peer does not read: {PendingOutput} bytes wait for it (at most {MaxPendingOutput})");
            throw _sendFailure;
        }
    }

    /// <summary>A non-blocking send of what the socket takes now; the rest stays queued.</summary>
    private void SendWithoutWaiting()
    {
        if (_fdsOut.Count > 0)
        {
            if (!_socket.Poll(0, SelectMode.SelectWrite))
            {
                return;
            }

            ReadOnlySpan<byte> first = _out.WrittenSpan[_outSent..];
            _outSent += _socket.SendWithFds(first[..Math.Min(first.Length, FirstChunkWithFds)], CollectionsMarshal.AsSpan(_fdsOut));
            ReleaseSentFds();
        }

        while (PendingOutput > 0)
        {
            int sent = _socket.Send(_out.WrittenSpan[_outSent..], SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock)
            {
                return;
            }

            if (error != SocketError.Success)
            {
                throw new SocketException((int)error);
            }

            _outSent += sent;
        }

        _out.ResetWrittenCount();
        _outSent = 0;
    }

    /// <summary>Flush for <see cref="End"/>: a non-blocking connection records a failure for the next Flush instead.</summary>
    private void FlushOrRecord()
    {
        try
        {
            Flush();
        }
        catch (IOException) when (NonBlockingSends)
        {
            // kept in _sendFailure
        }
    }

    private void ReleaseSentFds()
    {
        foreach (SafeHandle fd in _fdsOut)
        {
            fd.DangerousRelease();
        }

        _fdsOut.Clear();
    }

    /// <summary>Waits up to <paramref name="timeout"/> for bytes (or a hang-up) to read.</summary>
    public bool WaitReadable(TimeSpan timeout) =>
        _socket.Poll((int)Math.Clamp(timeout.TotalMicroseconds, 0, int.MaxValue), SelectMode.SelectRead);

    /// <summary>
    /// One recvmsg: bytes to the input buffer, fds to the queue. Returns the bytes received, 0 when the peer closed
    /// the connection. Blocks when nothing is there; call it after <see cref="WaitReadable"/>.
    /// </summary>
    /// <exception cref="WaylandWireException">The peer sent more fds than <see cref="MaxQueuedFds"/> waiting.</exception>
    public int Receive()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_inStart > 0)
        {
            Buffer.BlockCopy(_in, _inStart, _in, 0, _inEnd - _inStart);
            _inEnd -= _inStart;
            _inStart = 0;
        }

        if (_inEnd == _in.Length)
        {
            // Full, so a whole message is here and waits: for fds that never came (no message is this large).
            throw new WaylandWireException(WlDisplay.Error.InvalidMethod, $"a message waits for fds that did not come while {_in.Length} bytes piled up behind it");
        }

        // The fds are lent for the call and each is taken into the queue; nothing is allocated for a message without fds.
        WireConnection self = this;
        int received = _socket.ReceiveScoped(_in.AsSpan(_inEnd), UnixFdPassing.MaxFdsPerMessage, ref self, static (scoped BorrowedReceivedFds fds, ref WireConnection c) =>
        {
            if (c._fdsIn.Count + fds.Count > MaxQueuedFds)
            {
                throw new WaylandWireException(WlDisplay.Error.NoMemory, $"{fds.Count} more fds would exceed the {MaxQueuedFds} waiting for their messages (closed)");
            }

            for (int i = 0; i < fds.Count; i++)
            {
                c._fdsIn.Enqueue(fds.TakeFile(i));
            }
        });
        _inEnd += received;
        return received;
    }

    /// <summary>
    /// The header of the next message when all its bytes are here. A header that cannot be a message (size under 8,
    /// not a multiple of 4) throws.
    /// </summary>
    public bool TryPeek(out uint objectId, out ushort opcode, out int size)
    {
        objectId = 0;
        opcode = 0;
        size = 0;
        if (_inEnd - _inStart < 8)
        {
            return false;
        }

        objectId = BinaryPrimitives.ReadUInt32LittleEndian(_in.AsSpan(_inStart));
        uint word = BinaryPrimitives.ReadUInt32LittleEndian(_in.AsSpan(_inStart + 4));
        size = (int)(word >> 16);
        opcode = (ushort)word;
        if (size < 8 || size % 4 != 0)
        {
            throw new WaylandWireException(WlDisplay.Error.InvalidMethod, $"malformed message header: object {objectId}, opcode {opcode}, size {size}");
        }

        return _inEnd - _inStart >= size;
    }

    /// <summary>True when the queue holds the fds <paramref name="message"/> takes; else wait for more input.</summary>
    public bool HasFdsFor(WireMessage message) => _fdsIn.Count >= (message ?? throw new ArgumentNullException(nameof(message))).FdCount;

    /// <summary>
    /// The next message's arguments (its header peeked with <see cref="TryPeek"/>), its fds taken from the queue.
    /// Call <see cref="Consume"/> when done, also when reading failed.
    /// </summary>
    internal WireReader Read(WireMessage message, int size, WaylandClient? client, WaylandServerClient? server, MessageSite site)
    {
        if (_messageFds.Length < message.FdCount)
        {
            _messageFds = new SafeFileHandle?[message.FdCount];
        }

        for (int i = 0; i < message.FdCount; i++)
        {
            _messageFds[i] = _fdsIn.Dequeue();
        }

        return new WireReader(_in.AsSpan(_inStart + 8, size - 8), _messageFds, message.FdCount, client, server, site);
    }

    /// <summary>Drops the message just read (or skipped): its bytes, and every fd of it no handler took.</summary>
    public void Consume(int size)
    {
        for (int i = 0; i < _messageFds.Length; i++)
        {
            _messageFds[i]?.Dispose();
            _messageFds[i] = null;
        }

        _inStart += size;
    }

    /// <summary>Skips a message nobody handles (an event for a destroyed object): its fds are closed.</summary>
    public void Skip(WireMessage? message, int size)
    {
        for (int i = 0; message is not null && i < message.FdCount && _fdsIn.Count > 0; i++)
        {
            _fdsIn.Dequeue().Dispose();
        }

        Consume(size);
    }

    /// <summary>Closes the socket and every fd still queued either way.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _socket.Dispose();
        while (_fdsIn.Count > 0)
        {
            _fdsIn.Dequeue().Dispose();
        }

        ReleaseSentFds();
        _writer.ReleaseFds();
        Consume(0);
    }
}

/// <summary>Names a message in an error (<c>wl_surface@3.attach</c>); formatted only when an error needs it.</summary>
/// <param name="Target">The object (its ToString is <c>interface@id</c>).</param>
/// <param name="Message">The request's or event's name.</param>
public readonly record struct MessageSite(object Target, string Message)
{
    public override string ToString() => $"{Target}.{Message}";
}
