using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Wayland.Wire;

/// <summary>
/// Builds one message: 32-bit words in host byte order, strings and arrays length-prefixed and padded to 4 bytes,
/// fds out of band in argument order. One per connection, reused: <see cref="WireConnection.Begin"/> hands it out and
/// <see cref="WireConnection.End"/> queues the message.
/// </summary>
public sealed class WireWriter
{
    private readonly byte[] _bytes = new byte[WireConnection.MaxMessageSize];
    private readonly List<SafeHandle> _fds = [];
    private int _length;
    private bool _overflow;

    internal WireWriter()
    {
    }

    internal uint ObjectId { get; private set; }

    internal ushort Opcode { get; private set; }

    internal IReadOnlyList<SafeHandle> Fds => _fds;

    public void Int(int value) => Uint(unchecked((uint)value));

    public void Uint(uint value)
    {
        if (Reserve(4) is { } at)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(at), value);
        }
    }

    /// <summary>wl_fixed_t: a signed 24.8 number.</summary>
    public void Fixed(double value) => Int((int)Math.Round(value * 256.0));

    /// <summary>A string (length with its NUL, bytes, NUL, padding); null is length 0.</summary>
    public void String(string? value)
    {
        if (value is null)
        {
            Uint(0);
            return;
        }

        int count = Encoding.UTF8.GetByteCount(value);
        Uint((uint)count + 1);
        if (Reserve(Pad(count + 1)) is { } at)
        {
            Encoding.UTF8.GetBytes(value, _bytes.AsSpan(at));
        }
    }

    public void Array(ReadOnlySpan<byte> value)
    {
        Uint((uint)value.Length);
        if (Reserve(Pad(value.Length)) is { } at)
        {
            value.CopyTo(_bytes.AsSpan(at));
        }
    }

    public void Object(WaylandProxy? value) => Uint(value?.Id ?? 0);

    public void Object(WaylandResource? value) => Uint(value?.Id ?? 0);

    public void NewId(uint id) => Uint(id);

    /// <summary>
    /// An fd argument. The handle is referenced until the message has been sent, so the caller may dispose it at once
    /// (libwayland duplicates the fd for the same reason).
    /// </summary>
    public void Fd(SafeHandle fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        bool added = false;
        fd.DangerousAddRef(ref added);
        _fds.Add(fd);
    }

    internal void Reset(uint objectId, ushort opcode)
    {
        ReleaseFds();
        ObjectId = objectId;
        Opcode = opcode;
        _length = 8;
        _overflow = false;
    }

    /// <summary>The message with its header; throws (and drops it) when it exceeds the wire's limit.</summary>
    internal ReadOnlySpan<byte> Finish(MessageSite site)
    {
        if (_overflow)
        {
            ReleaseFds();
            throw new ArgumentException($"{site}: a Wayland message is at most {WireConnection.MaxMessageSize} bytes.");
        }

        BinaryPrimitives.WriteUInt32LittleEndian(_bytes, ObjectId);
        BinaryPrimitives.WriteUInt32LittleEndian(_bytes.AsSpan(4), ((uint)_length << 16) | Opcode);
        return _bytes.AsSpan(0, _length);
    }

    /// <summary>Hands the fds (and their references) over to the caller's list.</summary>
    internal void MoveFdsTo(List<SafeHandle> destination)
    {
        destination.AddRange(_fds);
        _fds.Clear();
    }

    internal void ReleaseFds()
    {
        foreach (SafeHandle fd in _fds)
        {
            fd.DangerousRelease();
        }

        _fds.Clear();
    }

    internal static int Pad(int length) => (length + 3) & ~3;

    private int? Reserve(int count)
    {
        if (_overflow || count > _bytes.Length - _length)
        {
            _overflow = true;
            return null;
        }

        int at = _length;
        _bytes.AsSpan(at, count).Clear();
        _length += count;
        return at;
    }
}
