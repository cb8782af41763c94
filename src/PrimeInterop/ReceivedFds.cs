using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The fds that arrived with one message (close-on-exec). Take the ones you keep with <see cref="TakeDmaBuf"/>,
/// <see cref="TakeSyncFile"/> or <see cref="TakeFile"/>; disposing this closes every fd not taken. The fds are owned
/// by this object from the moment they arrive, so a result that is dropped (a timeout, an abandoned task) leaks
/// nothing: its finalizer closes them.
/// </summary>
/// <remarks>
/// What a receiver can trust: every fd is open, close-on-exec and this process's own; its kind is not. A peer may
/// send any fd, so take each one with the method that asks the kernel what it is.
/// <para>
/// One object (and one array) per message, whatever the number of fds, and no SafeHandle per fd until one is
/// taken: a per-frame receive whose fds are checked and closed allocates little (fd passing is on the hot path of a
/// compositor or a decoder's client).
/// </para>
/// </remarks>
public sealed class ReceivedFds : IDisposable
{
    private readonly int[] _fds; // -1 once taken or closed; each slot changes only through Interlocked.Exchange
    private volatile bool _disposed;

    /// <summary>Takes over <paramref name="fds"/>; if this throws (no memory), the caller still owns them.</summary>
    internal ReceivedFds(int bytesReceived, ReadOnlySpan<int> fds)
    {
        BytesReceived = bytesReceived;
        _fds = fds.ToArray();
        if (_fds.Length == 0)
        {
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Closes the fds not taken when the result was dropped without being disposed.</summary>
    ~ReceivedFds() => CloseAll();

    /// <summary>Payload bytes received; 0 on a stream socket means the peer closed the connection.</summary>
    public int BytesReceived { get; }

    /// <summary>How many fds arrived.</summary>
    public int Count => _fds.Length;

    /// <summary>Takes fd <paramref name="index"/> after the kernel confirms it is a dma-buf; the caller owns the result.</summary>
    /// <exception cref="InvalidDataException">The fd is not a dma-buf (it stays here and is closed on dispose).</exception>
    public DmaBuf TakeDmaBuf(int index) => Take(index, OwnDmaBuf);

    /// <summary>Takes fd <paramref name="index"/> after the kernel confirms it is a sync_file.</summary>
    /// <exception cref="InvalidDataException">The fd is not a sync_file (it stays here and is closed on dispose).</exception>
    public SyncFile TakeSyncFile(int index) => Take(index, OwnSyncFile);

    /// <summary>Takes fd <paramref name="index"/> as it is.</summary>
    public SafeFileHandle TakeFile(int index) => Take(index, static (fd, _) => new SafeFileHandle(fd, ownsHandle: true));

    /// <summary>
    /// The kernel checks of a received fd, shared with <see cref="BorrowedReceivedFds"/>: the fd wrapped in its owner
    /// if the kernel says it is of that kind, otherwise an InvalidDataException naming what it is (the fd untouched).
    /// </summary>
    internal static DmaBuf OwnDmaBuf(int fd, int index) =>
        DmaBuf.IsDmaBuf(fd) ? new DmaBuf(fd, ownsHandle: true) : throw NotA(index, fd, "a dma-buf");

    /// <inheritdoc cref="OwnDmaBuf"/>
    internal static SyncFile OwnSyncFile(int fd, int index) =>
        SyncFileUapi.IsSyncFile(fd) ? new SyncFile(fd) : throw NotA(index, fd, "a sync_file");

    internal static InvalidDataException NotA(int index, int fd, string kind) =>
        new($"Received fd #{index} is not {kind} but {DmaBuf.Describe(fd)}.");

    /// <summary>Closes every fd not taken.</summary>
    public void Dispose()
    {
        _disposed = true;
        CloseAll();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Moves fd <paramref name="index"/> out of this result first (so a concurrent Dispose cannot close it under the
    /// kernel check), then lets <paramref name="own"/> check it and wrap it; if that throws, the fd comes back.
    /// </summary>
    private T Take<T>(int index, Func<int, int, T> own)
        where T : class
    {
        int fd = Detach(index);
        T? taken = null;
        try
        {
            taken = own(fd, index);
            return taken;
        }
        finally
        {
            if (taken is null)
            {
                PutBack(index, fd);
            }
        }
    }

    /// <summary>Moves fd <paramref name="index"/> out of this result, for its new owner or for a check.</summary>
    private int Detach(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _fds.Length);
        int fd = Interlocked.Exchange(ref _fds[index], -1);
        return fd >= 0 ? fd : throw new InvalidOperationException($"Received fd #{index} was already taken (or this result disposed).");
    }

    /// <summary>
    /// Returns a detached fd that was not taken. If Dispose ran meanwhile, the fd is closed here: the exchange is a
    /// full fence, so either Dispose's own exchange of the slot finds the fd, or this sees <see cref="_disposed"/>.
    /// </summary>
    private void PutBack(int index, int fd)
    {
        Interlocked.Exchange(ref _fds[index], fd);
        if (_disposed)
        {
            CloseSlot(index);
        }
    }

    private void CloseAll()
    {
        int[]? fds = _fds; // null in a finalizer if the constructor failed
        for (int i = 0; i < (fds?.Length ?? 0); i++)
        {
            CloseSlot(i);
        }
    }

    private void CloseSlot(int index)
    {
        int fd = Interlocked.Exchange(ref _fds[index], -1);
        if (fd >= 0)
        {
            Libc.Close(fd);
        }
    }
}
