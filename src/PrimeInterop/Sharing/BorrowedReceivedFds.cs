using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The fds of one message received by <see cref="UnixFdPassing.ReceiveScoped{TState}"/>, lent for the call of its body:
/// every fd not taken is closed when the body returns or throws. The zero-allocation counterpart of
/// <see cref="ReceivedFds"/>: no object per message and no finalizer, for a receive loop that imports (or checks and
/// drops) what arrives per frame. As with <see cref="ReceivedFds"/>, a fd's kind is not trusted: borrow or take it
/// with the method that asks the kernel what it is.
/// </summary>
public readonly ref struct BorrowedReceivedFds
{
    // On the receiving call's stack: the fd while it is here, -1 once taken, -(fd + 2) once lent by BorrowDmaBuf (so it
    // can no longer be taken: a take would let the caller close the fd under the BorrowedDmaBuf still in its hands).
    private readonly Span<int> _fds;
    private const int Taken = -1;

    internal BorrowedReceivedFds(int bytesReceived, Span<int> fds)
    {
        BytesReceived = bytesReceived;
        _fds = fds;
    }

    /// <summary>Payload bytes received; 0 on a stream socket means the peer closed the connection.</summary>
    public int BytesReceived { get; }

    /// <summary>How many fds arrived.</summary>
    public int Count => _fds.Length;

    /// <summary>
    /// Lends fd <paramref name="index"/> as a dma-buf for the rest of the body (to <see cref="DrmDevice.ImportScoped{TState}(BorrowedDmaBuf, ref TState, BorrowedGemHandleAction{TState})"/>,
    /// for example) after the kernel confirms it is one; it is closed with the others when the body ends.
    /// </summary>
    /// <exception cref="InvalidDataException">The fd is not a dma-buf.</exception>
    public BorrowedDmaBuf BorrowDmaBuf(int index)
    {
        int fd = Fd(index);
        if (!DmaBuf.IsDmaBuf(fd))
        {
            throw ReceivedFds.NotA(index, fd, "a dma-buf");
        }

        _fds[index] = -(fd + 2);
        return new BorrowedDmaBuf(fd);
    }

    /// <summary>Takes fd <paramref name="index"/> after the kernel confirms it is a dma-buf; the caller owns the result.</summary>
    /// <exception cref="InvalidDataException">The fd is not a dma-buf (it stays here and is closed when the body ends).</exception>
    /// <exception cref="InvalidOperationException">The fd was taken already, or lent by <see cref="BorrowDmaBuf"/>.</exception>
    public DmaBuf TakeDmaBuf(int index)
    {
        DmaBuf taken = ReceivedFds.OwnDmaBuf(Untaken(index), index);
        _fds[index] = Taken; // only once the new owner exists: if its allocation threw, the scope still closes the fd
        return taken;
    }

    /// <summary>Takes fd <paramref name="index"/> after the kernel confirms it is a sync_file.</summary>
    /// <exception cref="InvalidDataException">The fd is not a sync_file (it stays here and is closed when the body ends).</exception>
    public SyncFile TakeSyncFile(int index)
    {
        SyncFile taken = ReceivedFds.OwnSyncFile(Untaken(index), index);
        _fds[index] = Taken;
        return taken;
    }

    /// <summary>Takes fd <paramref name="index"/> as it is.</summary>
    public SafeFileHandle TakeFile(int index)
    {
        var taken = new SafeFileHandle(Untaken(index), ownsHandle: true);
        _fds[index] = Taken;
        return taken;
    }

    /// <summary>Fd <paramref name="index"/>, here or lent; not taken.</summary>
    private int Fd(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _fds.Length);
        int slot = _fds[index];
        return slot >= 0 ? slot : slot != Taken ? -slot - 2 : throw new InvalidOperationException($"Received fd #{index} was already taken.");
    }

    /// <summary>Fd <paramref name="index"/> if it can still be taken: here, and not lent.</summary>
    private int Untaken(int index)
    {
        int fd = Fd(index);
        return _fds[index] >= 0 ? fd : throw new InvalidOperationException(
            $"Received fd #{index} is lent as a BorrowedDmaBuf in this body; it cannot be taken as well (take it instead of borrowing it).");
    }

    /// <summary>Closes every fd of <paramref name="fds"/> not taken, lent or not (the end of a scope, or a message refused).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // a per-frame scope closes in its own frame: one P/Invoke frame less
    internal static void CloseRemaining(Span<int> fds)
    {
        for (int i = 0; i < fds.Length; i++)
        {
            int slot = fds[i];
            if (slot != Taken)
            {
                Libc.Close(slot >= 0 ? slot : -slot - 2);
                fds[i] = Taken;
            }
        }
    }
}

/// <summary>The body of <see cref="UnixFdPassing.ReceiveScoped{TState}"/>: what arrived, and the caller's state.</summary>
public delegate void BorrowedReceivedFdsAction<TState>(scoped BorrowedReceivedFds fds, ref TState state)
    where TState : allows ref struct;
