using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The fds that arrived with one message (close-on-exec). Take the ones you keep with <see cref="TakeDmaBuf"/>,
/// <see cref="TakeSyncFile"/> or <see cref="TakeFile"/>; disposing this closes every fd not taken.
/// </summary>
public sealed class ReceivedFds : IDisposable
{
    private readonly int[] _fds;

    internal ReceivedFds(int bytesReceived, int[] fds)
    {
        BytesReceived = bytesReceived;
        _fds = fds;
    }

    /// <summary>Payload bytes received; 0 on a stream socket means the peer closed the connection.</summary>
    public int BytesReceived { get; }

    /// <summary>How many fds arrived.</summary>
    public int Count => _fds.Length;

    /// <summary>Takes fd <paramref name="index"/> after checking that it is a dma-buf; the caller owns the result.</summary>
    /// <exception cref="InvalidDataException">The fd is not a dma-buf (it stays here and is closed on dispose).</exception>
    public DmaBuf TakeDmaBuf(int index)
    {
        int fd = Peek(index);
        if (!DmaBuf.IsDmaBuf(fd))
        {
            throw new InvalidDataException($"Received fd #{index} is not a dma-buf but {Libc.ReadLink($"/proc/self/fd/{fd}") ?? "unknown"}.");
        }

        _fds[index] = -1;
        return new DmaBuf(fd, ownsHandle: true);
    }

    /// <summary>Takes fd <paramref name="index"/> after checking that it is a sync_file.</summary>
    /// <exception cref="InvalidDataException">The fd is not a sync_file.</exception>
    public SyncFile TakeSyncFile(int index)
    {
        int fd = Peek(index);
        if (Libc.ReadLink($"/proc/self/fd/{fd}") is not "anon_inode:sync_file")
        {
            throw new InvalidDataException($"Received fd #{index} is not a sync_file but {Libc.ReadLink($"/proc/self/fd/{fd}") ?? "unknown"}.");
        }

        _fds[index] = -1;
        return new SyncFile(fd);
    }

    /// <summary>Takes fd <paramref name="index"/> as it is.</summary>
    public SafeFileHandle TakeFile(int index)
    {
        int fd = Peek(index);
        _fds[index] = -1;
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Closes every fd not taken.</summary>
    public void Dispose()
    {
        for (int i = 0; i < _fds.Length; i++)
        {
            if (_fds[i] >= 0)
            {
                Libc.Close(_fds[i]);
                _fds[i] = -1;
            }
        }
    }

    private int Peek(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _fds.Length);
        int fd = _fds[index];
        return fd >= 0 ? fd : throw new InvalidOperationException($"Received fd #{index} was already taken.");
    }
}
