using PrimeInterop.Interop;

namespace PrimeInterop;

/// <content>Waiting for a dma-buf's implicit fences: poll(2) on the dma-buf fd, as compositors do.</content>
public sealed partial class DmaBuf
{
    /// <summary>
    /// Completes when the buffer's implicit fences allow <paramref name="access"/>: for <see cref="DmaBufAccess.Read"/>
    /// when every writer is done (the fd polls readable, <c>POLLIN</c>); for <see cref="DmaBufAccess.Write"/> and
    /// <see cref="DmaBufAccess.ReadWrite"/> when every reader and writer is done (<c>POLLOUT</c>). No thread blocks:
    /// one internal poller thread (epoll) serves every pending wait in the process.
    /// </summary>
    /// <param name="access">What the caller is about to do with the buffer.</param>
    /// <param name="cancellationToken">Cancels the wait; it then throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>
    /// A <see cref="ValueTask"/> to await once (or turn into a Task with <see cref="ValueTask.AsTask"/>). Completed
    /// already when the fences allow the access; else a wait that allocates nothing without a cancellation token.
    /// </returns>
    /// <exception cref="ObjectDisposedException">This dma-buf was disposed (or finalized), before or during the wait.</exception>
    /// <remarks>
    /// The buffer's fd is registered in the poller's epoll set on its first wait and stays there, re-armed for each
    /// wait, until this object is disposed or finalized; a second wait that overlaps the first gets a registration of
    /// its own (a dup of the fd) that is reused the same way. Dispose and the finalizer end a pending wait with
    /// <see cref="ObjectDisposedException"/> and take the fd out of epoll before it is closed. A wait nobody
    /// cancels, on a fence nobody signals, stays pending until then. Continuations run on the thread pool.
    /// </remarks>
    public ValueTask WaitReadyAsync(DmaBufAccess access, CancellationToken cancellationToken) =>
        WaitReadyAsync(access, Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>As <see cref="WaitReadyAsync(DmaBufAccess, CancellationToken)"/>, not cancellable.</summary>
    /// <param name="access">What the caller is about to do with the buffer.</param>
    public ValueTask WaitReadyAsync(DmaBufAccess access) => WaitReadyAsync(access, Timeout.InfiniteTimeSpan, CancellationToken.None);

    /// <summary>As <see cref="WaitReadyAsync(DmaBufAccess, TimeSpan, CancellationToken)"/>, not cancellable.</summary>
    /// <param name="access">What the caller is about to do with the buffer.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever, zero to only look.</param>
    public ValueTask WaitReadyAsync(DmaBufAccess access, TimeSpan timeout) => WaitReadyAsync(access, timeout, CancellationToken.None);

    /// <summary>As <see cref="WaitReadyAsync(DmaBufAccess, CancellationToken)"/>, giving up after <paramref name="timeout"/>.</summary>
    /// <param name="access">What the caller is about to do with the buffer.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever, zero to only look.</param>
    /// <param name="cancellationToken">Cancels the wait; it then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="TimeoutException">The fences did not allow <paramref name="access"/> in time.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative (other than infinite) or too long; thrown by the call.</exception>
    public ValueTask WaitReadyAsync(DmaBufAccess access, TimeSpan timeout, CancellationToken cancellationToken)
    {
        DmaBufMapping.ValidateAccess(access);
        return WaitForAsync(PollEvents(access), timeout, "dma-buf", cancellationToken);
    }

    /// <summary>True when the implicit fences allow <paramref name="access"/> right now (a poll with zero timeout).</summary>
    public bool IsReady(DmaBufAccess access)
    {
        DmaBufMapping.ValidateAccess(access);
        using var lease = new Lease(this);
        ThrowHelper.ThrowIfError(Libc.PollNow(lease.Fd, (short)PollEvents(access), out int ready), Libc.Operation.Poll, "dma-buf", fd: lease.Fd);
        return (ready & PollEvents(access)) != 0;
    }

    private static uint PollEvents(DmaBufAccess access) => access == DmaBufAccess.Read ? Epoll.EPOLLIN : Epoll.EPOLLOUT;
}
