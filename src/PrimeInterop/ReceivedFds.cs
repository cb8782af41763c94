using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The fds that arrived with one message (close-on-exec). Take the ones you keep with <see cref="TakeDmaBuf"/>,
/// <see cref="TakeSyncFile"/> or <see cref="TakeFile"/>; disposing this closes every fd not taken. Each fd is owned
/// by a SafeHandle from the moment it arrives, so a result that is dropped (a timeout, an abandoned task) leaks
/// nothing: the finalizers close its fds.
/// </summary>
/// <remarks>
/// What a receiver can trust: every fd is open, close-on-exec and this process's own; its kind is not. A peer may
/// send any fd, so take each one with the method that asks the kernel what it is.
/// </remarks>
public sealed class ReceivedFds : IDisposable
{
    private readonly SafeFileHandle?[] _fds;

    internal ReceivedFds(int bytesReceived, SafeFileHandle[] fds)
    {
        BytesReceived = bytesReceived;
        _fds = fds;
    }

    /// <summary>Payload bytes received; 0 on a stream socket means the peer closed the connection.</summary>
    public int BytesReceived { get; }

    /// <summary>How many fds arrived.</summary>
    public int Count => _fds.Length;

    /// <summary>Takes fd <paramref name="index"/> after the kernel confirms it is a dma-buf; the caller owns the result.</summary>
    /// <exception cref="InvalidDataException">The fd is not a dma-buf (it stays here and is closed on dispose).</exception>
    public DmaBuf TakeDmaBuf(int index)
    {
        SafeFileHandle file = Peek(index);
        using (var lease = new HandleLease(file))
        {
            if (!DmaBuf.IsDmaBuf(lease.Fd))
            {
                throw new InvalidDataException($"Received fd #{index} is not a dma-buf but {DmaBuf.Describe(lease.Fd)}.");
            }
        }

        return new DmaBuf(Detach(index), ownsHandle: true);
    }

    /// <summary>Takes fd <paramref name="index"/> after the kernel confirms it is a sync_file.</summary>
    /// <exception cref="InvalidDataException">The fd is not a sync_file (it stays here and is closed on dispose).</exception>
    public SyncFile TakeSyncFile(int index)
    {
        SafeFileHandle file = Peek(index);
        using (var lease = new HandleLease(file))
        {
            if (!SyncFileUapi.IsSyncFile(lease.Fd))
            {
                throw new InvalidDataException($"Received fd #{index} is not a sync_file but {DmaBuf.Describe(lease.Fd)}.");
            }
        }

        return new SyncFile(Detach(index));
    }

    /// <summary>Takes fd <paramref name="index"/> as it is.</summary>
    public SafeFileHandle TakeFile(int index)
    {
        SafeFileHandle file = Peek(index);
        _fds[index] = null;
        return file;
    }

    /// <summary>Closes every fd not taken.</summary>
    public void Dispose()
    {
        for (int i = 0; i < _fds.Length; i++)
        {
            Interlocked.Exchange(ref _fds[i], null)?.Dispose();
        }
    }

    private SafeFileHandle Peek(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _fds.Length);
        return _fds[index] ?? throw new InvalidOperationException($"Received fd #{index} was already taken (or this result disposed).");
    }

    /// <summary>Moves the fd out of its SafeHandle (which then closes nothing) for its new owner.</summary>
    private int Detach(int index)
    {
        SafeFileHandle file = Interlocked.Exchange(ref _fds[index], null)
            ?? throw new InvalidOperationException($"Received fd #{index} was already taken.");
        int fd = (int)file.DangerousGetHandle();
        file.SetHandleAsInvalid();
        return fd;
    }
}
