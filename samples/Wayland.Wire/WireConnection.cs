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

    private const int OutFlushThreshold = 16 * 1024;

    private readonly Socket _socket;
    private readonly byte[] _in = new byte[64 * 1024 + 2 * MaxMessageSize]; // a header's 16-bit size reaches 65535
    private readonly Queue<SafeFileHandle> _fdsIn = new();
    private readonly ArrayBufferWriter<byte> _out = new(OutFlushThreshold);
    private readonly List<SafeHandle> _fdsOut = [];
    private readonly WireWriter _writer = new();
    private SafeFileHandle?[] _messageFds = new SafeFileHandle?[4];
    private int _inStart;
    private int _inEnd;
    private bool _disposed;

    public WireConnection(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _socket = socket;
    }

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

    /// <summary>Queues the message (flushing first when its fds or bytes would not fit into one send).</summary>
    public void End(WireWriter writer, string what)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ReadOnlySpan<byte> message = writer.Finish(what);
        if (_fdsOut.Count + writer.Fds.Count > MaxFdsPerSend || _out.WrittenCount + message.Length > OutFlushThreshold)
        {
            try
            {
                Flush();
            }
            catch
            {
                writer.ReleaseFds();
                throw;
            }
        }

        _out.Write(message);
        writer.MoveFdsTo(_fdsOut);
        MessagesSent++;
    }

    /// <summary>
    /// Sends everything queued: the fds with the first byte (so they never arrive after their message), the rest of
    /// the bytes after them. Blocks while the socket's buffer is full.
    /// </summary>
    public void Flush()
    {
        if (_out.WrittenCount == 0)
        {
            return;
        }

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
            foreach (SafeHandle fd in _fdsOut)
            {
                fd.DangerousRelease();
            }

            _fdsOut.Clear();
            _out.ResetWrittenCount();
        }
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

        using ReceivedFds received = _socket.ReceiveWithFds(_in.AsSpan(_inEnd));
        if (_fdsIn.Count + received.Count > MaxQueuedFds)
        {
            throw new WaylandWireException(WlDisplay.Error.NoMemory, $"{received.Count} more fds would exceed the {MaxQueuedFds} waiting for their messages (closed)");
        }

        for (int i = 0; i < received.Count; i++)
        {
            _fdsIn.Enqueue(received.TakeFile(i));
        }

        _inEnd += received.BytesReceived;
        return received.BytesReceived;
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
    internal WireReader Read(WireMessage message, int size, WaylandClient? client, WaylandServerClient? server, string what)
    {
        if (_messageFds.Length < message.FdCount)
        {
            _messageFds = new SafeFileHandle?[message.FdCount];
        }

        for (int i = 0; i < message.FdCount; i++)
        {
            _messageFds[i] = _fdsIn.Dequeue();
        }

        return new WireReader(_in.AsSpan(_inStart + 8, size - 8), _messageFds, message.FdCount, client, server, what);
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

        foreach (SafeHandle fd in _fdsOut)
        {
            fd.DangerousRelease();
        }

        _fdsOut.Clear();
        _writer.ReleaseFds();
        Consume(0);
    }
}
