using System.Diagnostics;
using System.Threading.Tasks.Sources;
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
    private EventRead? _idleRead; // a pending read's state, free for the next

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
    /// thread blocks). Concurrent callers each get a different event, in the order the kernel sent them. A frame's
    /// wait allocates nothing: the device keeps the state of one pending read for the next.
    /// </summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Cancels the wait; it then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="TimeoutException">No event came in time.</exception>
    /// <exception cref="ObjectDisposedException">The device was disposed, before or during the wait.</exception>
    public ValueTask<DrmEvent> ReadEventAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            if (TryReadEvent(out DrmEvent drmEvent))
            {
                return new ValueTask<DrmEvent>(drmEvent);
            }
        }
        catch (Exception e)
        {
            return ValueTask.FromException<DrmEvent>(e);
        }

        // A read that overlaps another gets a state of its own.
        EventRead read = Interlocked.Exchange(ref _idleRead, null) ?? new EventRead(this);
        return read.Start(timeout, cancellationToken);
    }

    /// <summary>
    /// One pending <see cref="ReadEventAsync(TimeSpan, CancellationToken)"/>, reused: it awaits the file's readability
    /// (its registration with the poller, re-armed for each wait) and reads the event on the thread that completes
    /// that wait, then completes the caller's wait, whose continuation runs on the thread pool. A continuation of its
    /// own on the poller's wait is what lets it allocate nothing: the state machine of an async method comes from a
    /// cache per thread, and a frame's continuations move between the pool's threads, so that cache misses now and
    /// then (a 184-byte box).
    /// </summary>
    private sealed class EventRead : IValueTaskSource<DrmEvent>
    {
        private readonly DrmDevice _device;
        private readonly Action _onReady;
        private ManualResetValueTaskSourceCore<DrmEvent> _core;
        private ValueTask _wait; // the wait for readability in progress
        private TimeSpan _timeout;
        private long _start;
        private CancellationToken _token;

        public EventRead(DrmDevice device)
        {
            _device = device;
            _onReady = OnReady;
            _core.RunContinuationsAsynchronously = true;
        }

        public ValueTask<DrmEvent> Start(TimeSpan timeout, CancellationToken cancellationToken)
        {
            _core.Reset();
            _timeout = timeout;
            _start = Stopwatch.GetTimestamp();
            _token = cancellationToken;
            short version = _core.Version;
            Wait();
            return new ValueTask<DrmEvent>(this, version);
        }

        public DrmEvent GetResult(short token)
        {
            bool current = token == _core.Version; // a stale token must not free a read that is in use again
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                if (current)
                {
                    _token = default;
                    Volatile.Write(ref _device._idleRead, this); // free for the next read
                }
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        /// <summary>Arms the wait for readability, until one is pending or an event (or an error) completes the read.</summary>
        private void Wait()
        {
            while (true)
            {
                ValueTask wait;
                try
                {
                    string what = _device._eventsWhat ??= $"{_device.Path} (DRM events)";
                    TimeSpan left = Deadline.Left(_timeout, _start, what);
                    wait = _device._file.WaitForAsync(Epoll.EPOLLIN, left, what, _token, continueInline: true);
                }
                catch (Exception e)
                {
                    _core.SetException(e);
                    return;
                }

                if (!wait.IsCompleted)
                {
                    // Completed meanwhile, the core queues OnReady to the thread pool instead: still correct.
                    _wait = wait;
                    wait.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onReady);
                    return;
                }

                if (Finish(wait))
                {
                    return;
                }
            }
        }

        /// <summary>The wait ended (readable, canceled, timed out, the device disposed), on the thread that ended it.</summary>
        private void OnReady()
        {
            ValueTask wait = _wait;
            _wait = default;
            if (!Finish(wait))
            {
                Wait();
            }
        }

        /// <summary>True when the ended wait completed the read: with its error, or with the event it made readable.</summary>
        private bool Finish(ValueTask wait)
        {
            try
            {
                wait.GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                _core.SetException(e);
                return true;
            }

            return TryComplete();
        }

        /// <summary>Completes the read with the next event, or an error; false when there is none (another reader took it first).</summary>
        private bool TryComplete()
        {
            try
            {
                if (!_device.TryReadEvent(out DrmEvent drmEvent))
                {
                    return false;
                }

                _core.SetResult(drmEvent);
            }
            catch (Exception e)
            {
                _core.SetException(e);
            }

            return true;
        }
    }
}
