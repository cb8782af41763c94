using System.Diagnostics;
using System.Runtime.CompilerServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <content>
/// The events the kernel queues on this file (page flips, vblanks), awaited without a thread per wait: the DRM fd
/// polls readable when an event is queued, and the library's one poller thread serves every pending wait.
/// </content>
public sealed partial class DrmDevice
{
    // One read of the fd may hold several events; those not handed out yet wait here, in order.
    private readonly Lock _eventGate = new();
    private Queue<DrmEvent>? _events;
    private byte[]? _eventBuffer; // libdrm's drmHandleEvent reads 1024 bytes at a time; an event is 32
    private string? _eventsWhat; // how a wait is named (the poller's, a timeout's), made once rather than per frame

    /// <summary>
    /// The next event: one already read, or one the kernel has queued on this file, read now without blocking. False
    /// when there is none.
    /// </summary>
    /// <exception cref="DrmException">Reading the fd failed, or the kernel's data was not a well-formed event.</exception>
    /// <remarks>
    /// All events of this file are read through this device: do not read its <see cref="FileHandle"/> yourself (or
    /// hand it to code that does), or an event may go to the other reader.
    /// </remarks>
    public bool TryReadEvent(out DrmEvent drmEvent)
    {
        using var lease = DeviceLease();
        lock (_eventGate)
        {
            _events ??= new Queue<DrmEvent>();
            if (_events.TryDequeue(out drmEvent))
            {
                return true;
            }

            // Under the gate no other reader of this device can take the event between the poll and the read, so a
            // read of the (blocking) fd that follows a readable poll does not block.
            ThrowHelper.ThrowIfError(Libc.PollNow(_fd, (short)Epoll.EPOLLIN, out int ready), Libc.Operation.Poll, Path);
            if ((ready & Epoll.EPOLLIN) == 0)
            {
                return false;
            }

            byte[] buffer = _eventBuffer ??= new byte[1024];
            int errno = Libc.Read(_fd, buffer, out int count);
            ThrowHelper.ThrowIfError(errno, $"{Libc.Operation.Read}(DRM events)", Path);
            int bad = DrmEvent.Parse(buffer.AsSpan(0, count), _events);
            if (bad >= 0)
            {
                ThrowHelper.Throw(Errno.EIO, $"{Libc.Operation.Read}(DRM events)", Path,
                    hint: $"the kernel's event data was malformed at byte {bad} of {count}; the events before it are kept, the rest are dropped");
            }

            return _events.TryDequeue(out drmEvent);
        }
    }

    /// <summary>As <see cref="ReadEventAsync(TimeSpan, CancellationToken)"/>, with no timeout.</summary>
    /// <param name="cancellationToken">Cancels the wait; it then throws <see cref="OperationCanceledException"/>.</param>
    public ValueTask<DrmEvent> ReadEventAsync(CancellationToken cancellationToken) => ReadEventAsync(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>As <see cref="ReadEventAsync(TimeSpan, CancellationToken)"/>, not cancellable.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    public ValueTask<DrmEvent> ReadEventAsync(TimeSpan timeout) => ReadEventAsync(timeout, CancellationToken.None);

    /// <summary>
    /// The next event of this file: a page flip's (<see cref="DrmAtomicCommitFlags.PageFlipEvent"/>) or a vblank's.
    /// Returns at once when one is queued; otherwise awaits the fd's readability through the library's poller (no
    /// thread blocks). Concurrent callers each get a different event, in the order the kernel sent them.
    /// </summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Cancels the wait; it then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="TimeoutException">No event came in time.</exception>
    /// <exception cref="ObjectDisposedException">The device was disposed, before or during the wait.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // a frame's wait reuses a pooled state machine
    public async ValueTask<DrmEvent> ReadEventAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            if (TryReadEvent(out DrmEvent drmEvent))
            {
                return drmEvent;
            }

            // Readable means an event is queued; another reader may take it first, so the loop looks again.
            TimeSpan left = Deadline.Left(timeout, start, _eventsWhat ??= $"{Path} (DRM events)");
            // The file's registration with the poller, re-armed for each wait (Dispose ends a pending one).
            await _file.WaitForAsync(Epoll.EPOLLIN, left, _eventsWhat, cancellationToken).ConfigureAwait(false);
        }
    }
}
