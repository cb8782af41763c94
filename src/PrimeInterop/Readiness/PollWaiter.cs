using System.Diagnostics.CodeAnalysis;
using System.Threading.Tasks.Sources;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// One epoll registration of one fd and the reusable source of the <see cref="ValueTask"/>s that wait on it: added
/// to the poller's epoll set once, armed again for each wait (<c>EPOLLONESHOT</c>, re-armed with <c>EPOLL_CTL_MOD</c>),
/// and removed when it is closed. A wait allocates nothing (without a cancellation token); the waiter is free again
/// once its result has been read (<see cref="GetResult"/>), so its owner keeps it for the next wait.
/// <para>
/// The armed wait is named by a sequence number that the poller hands out (unique across waiters, and carried in the
/// registration's epoll data beside the slot), and whoever swaps <see cref="_armed"/> from that number to 0 completes
/// it: readiness (the poller's thread), cancellation, the timer, or <see cref="Close"/>. So an event, a cancellation or
/// a timer that belongs to an earlier wait, or to an earlier waiter in the same slot, finds another number and does
/// nothing. Completing comes first; what is cleaned up after (a registration, a dup, a lease) never delays the waiter.
/// A caller's continuation runs on the thread pool, never on the poller's thread (only the library's own may: see Arm).
/// </para>
/// </summary>
internal sealed class PollWaiter : IValueTaskSource
{
    // What a completed wait's result is, besides the ready events (>= 0).
    private const int Canceled = -1, TimedOut = -2, Disposed = -3;

    private static readonly Action<object?> OnCanceled = static w => ((PollWaiter)w!).Cancel();
    private static readonly TimerCallback OnTimer = static w => ((PollWaiter)w!).Expire();

    private readonly FdPoller _poller;
    private readonly Lock _gate = new(); // arming against closing; the completion itself takes no lock
    private readonly string _kind;
    private readonly int _shownFd; // the fd the owner knows, for messages (a dup's owner knows the original)
    private readonly bool _once; // a single wait: closed as soon as it completes (FdPoller.WaitOnceAsync)
    private ManualResetValueTaskSourceCore<int> _core;
    private int _fd = -1;
    private bool _ownsFd;
    private Hold _caller; // a caller's handle this waiter holds until it is closed (FdPoller.WaitOnceAsync)
    private uint _armed; // the armed wait's sequence number; 0 when none is
    private int _inUse; // 1 from TryAcquire until the result is read
    private bool _registered, _closed;
    private uint _events;
    private bool _errorIsReady;
    private CancellationToken _token;
    private CancellationTokenRegistration _cancellation;
    private CancellationToken _canceledBy;
    private ITimer? _timer;
    private long _deadline; // Environment.TickCount64 at which the armed wait times out; long.MaxValue: never
    private TimeSpan _timeout;

    /// <param name="poller">The poller whose epoll set the fd is registered in.</param>
    /// <param name="kind">What the fd is, for messages ("dma-buf", "socket", …).</param>
    /// <param name="shownFd">The fd number the caller knows, for messages.</param>
    /// <param name="once">Close after the first wait completes.</param>
    public PollWaiter(FdPoller poller, string kind, int shownFd, bool once = false)
    {
        _poller = poller;
        _kind = kind;
        _shownFd = shownFd;
        _once = once;
        _core.RunContinuationsAsynchronously = true;
    }

    /// <summary>The next waiter of the same owner (the owner's list, walked by <see cref="TryAcquire"/>'s callers).</summary>
    public PollWaiter? Next { get; set; }

    /// <summary>The registered fd.</summary>
    public int Fd => _fd;

    /// <summary>The poller's slot of this registration, while registered.</summary>
    public int Slot { get; set; } = -1;

    /// <summary>
    /// Sets the fd to register: the owner's own (which the owner keeps open while this waiter lives and closes only
    /// after <see cref="Close"/>), or one this waiter owns (a dup, closed by <see cref="Close"/>), optionally with a
    /// hold on a caller's handle that <see cref="Close"/> ends. Once, right after construction: a waiter made before
    /// the call that makes the fd owns the fd the moment this returns.
    /// </summary>
    public void SetFd(int fd, bool owns, Hold caller = default)
    {
        _fd = fd;
        _ownsFd = owns;
        _caller = caller;
    }

    /// <summary>Takes this waiter for one wait; false while another wait has it (its result not read yet).</summary>
    public bool TryAcquire() => Interlocked.CompareExchange(ref _inUse, 1, 0) == 0;

    /// <summary>
    /// Arms a wait for <paramref name="events"/> on an acquired waiter. The caller holds the fd open for the call.
    /// Throws ObjectDisposedException once closed, and the errno of <c>epoll_ctl</c>.
    /// </summary>
    /// <param name="events">EPOLLIN, EPOLLOUT.</param>
    /// <param name="timeout">Infinite, or at most int.MaxValue ms (checked by the caller).</param>
    /// <param name="errorIsReady">An error or hang-up alone completes the wait normally: the caller's next call on
    /// the fd reports the real error (a socket's send gives EPIPE).</param>
    /// <param name="cancellationToken">Ends the wait with OperationCanceledException.</param>
    /// <param name="continueInline">
    /// For the library's own continuation only (never a caller's): it runs on the thread that completes the wait (the
    /// poller's, a canceller's, the timer's, a Dispose's), so that it can hand a result on without a thread-pool hop
    /// of its own. It must be short and never block.
    /// </param>
    public ValueTask Arm(uint events, TimeSpan timeout, bool errorIsReady, CancellationToken cancellationToken, bool continueInline = false)
    {
        short version;
        lock (_gate)
        {
            if (_closed)
            {
                Volatile.Write(ref _inUse, 0);
                ThrowClosed();
            }

            uint seq = _poller.NextSequence();
            _core.Reset();
            _core.RunContinuationsAsynchronously = !continueInline;
            version = _core.Version;
            _events = events;
            _errorIsReady = errorIsReady;
            _token = cancellationToken;
            _canceledBy = default;

            // Everything that can end the wait is in place before it is armed, so the thread that completes it finds
            // whatever it must undo; a cancellation or timer that fires before _armed is set is looked for again below.
            _cancellation = cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(OnCanceled, this) : default;
            _timeout = timeout;
            _deadline = long.MaxValue;
            if (timeout != Timeout.InfiniteTimeSpan)
            {
                _deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
                (_timer ??= TimeProvider.System.CreateTimer(OnTimer, this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan)).Change(timeout, Timeout.InfiniteTimeSpan);
            }

            Volatile.Write(ref _armed, seq);
            int errno = _poller.Arm(this, events, seq, _registered);
            if (errno != 0)
            {
                if (Interlocked.CompareExchange(ref _armed, 0, seq) == seq)
                {
                    Disarm();
                }

                Volatile.Write(ref _inUse, 0);
                ThrowHelper.Throw(errno, _registered ? Libc.Operation.EpollMod : Libc.Operation.EpollAdd, What, fd: _shownFd,
                    hint: errno == Errno.EPERM ? "this fd does not support poll" : null);
            }

            _registered = true;
            if (cancellationToken.IsCancellationRequested)
            {
                Complete(seq, Canceled);
            }
            else if (Environment.TickCount64 >= _deadline)
            {
                Complete(seq, TimedOut);
            }
        }

        return new ValueTask(this, version);
    }

    /// <summary>The poller's thread: the registration reported <paramref name="revents"/> for wait <paramref name="seq"/>.</summary>
    public void OnReady(uint seq, uint revents) => Complete(seq, (int)(revents & int.MaxValue));

    /// <summary>
    /// Ends this registration for good: an armed wait completes with ObjectDisposedException, then the fd leaves the
    /// epoll set, the fd this waiter owns is closed and its lease ended. Every later <see cref="Arm"/> throws
    /// ObjectDisposedException. Idempotent; the owner calls it before it closes the fd it registered.
    /// </summary>
    public void Close()
    {
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            CompleteArmed(Disposed);
            if (_registered)
            {
                _poller.Unregister(this);
                _registered = false;
            }

            if (_ownsFd && _fd >= 0)
            {
                _ = Libc.Close(_fd);
            }

            _fd = -1;
            _caller.End();
            _timer?.Dispose();
        }
    }

    /// <inheritdoc/>
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc/>
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>The wait's outcome; frees this waiter for the next wait.</summary>
    public void GetResult(short token)
    {
        int result = _core.GetResult(token);
        uint events = _events;
        bool errorIsReady = _errorIsReady;
        CancellationToken canceledBy = _canceledBy;
        TimeSpan timeout = _timeout;
        Volatile.Write(ref _inUse, 0); // read everything first: the next wait may arm at once
        if (result < 0 || (!errorIsReady && (result & events) == 0))
        {
            ThrowOutcome(result, events, timeout, canceledBy);
        }
    }

    /// <summary>What a wait is on, for messages.</summary>
    private string What => $"{_kind} fd {_shownFd}";

    [DoesNotReturn]
    private void ThrowOutcome(int result, uint events, TimeSpan timeout, CancellationToken canceledBy)
    {
        string what = $"{What} (waiting for {(events == Epoll.EPOLLIN ? "POLLIN" : events == Epoll.EPOLLOUT ? "POLLOUT" : $"events 0x{events:x}")})";
        throw result switch
        {
            Canceled => new OperationCanceledException($"The wait for {what} was canceled.", canceledBy),
            TimedOut => new TimeoutException($"{what} was not ready within {timeout.TotalMilliseconds} ms."),
            Disposed => new ObjectDisposedException(_kind, $"The {_kind} was disposed while a wait on it was pending ({what})."),
            _ => DrmException.FromErrno(Errno.EIO, Libc.Operation.Poll, what, fd: _shownFd,
                hint: $"the fd reported events 0x{result:x} (error or hang-up) instead of readiness"),
        };
    }

    [DoesNotReturn]
    private void ThrowClosed() => throw new ObjectDisposedException(_kind, $"The {_kind} fd {_shownFd} was disposed.");

    private void Cancel()
    {
        // A registration of an earlier wait that fired late finds a token that is not canceled (a wait with the same,
        // canceled, token would have been canceled at once).
        if (_token.IsCancellationRequested)
        {
            CompleteArmed(Canceled);
        }
    }

    private void Expire()
    {
        long left = Volatile.Read(ref _deadline) - Environment.TickCount64;
        if (left <= 0)
        {
            CompleteArmed(TimedOut);
        }
        else if (left < int.MaxValue && Volatile.Read(ref _armed) != 0)
        {
            _timer?.Change(TimeSpan.FromMilliseconds(left), Timeout.InfiniteTimeSpan); // fired early, or for an earlier wait
        }
    }

    private void CompleteArmed(int result) => Complete(Volatile.Read(ref _armed), result);

    /// <summary>Completes wait <paramref name="seq"/> if it is still the armed one; exactly one caller gets to.</summary>
    private void Complete(uint seq, int result)
    {
        if (seq == 0 || Interlocked.CompareExchange(ref _armed, 0, seq) != seq)
        {
            return;
        }

        if (result == Canceled)
        {
            _canceledBy = _token;
        }

        Disarm();
        if (result is Canceled or TimedOut)
        {
            // The kernel's one-shot registration is still armed: disarm it (under the lock, so the fd is still open
            // and still this registration's) before the waiter can be armed again by whoever reads the result.
            lock (_gate)
            {
                if (_registered && !_closed)
                {
                    _poller.Disarm(this);
                }
            }
        }

        _core.SetResult(result);
        if (_once)
        {
            Close();
        }
    }

    /// <summary>Undoes what armed a wait besides epoll (a one-shot registration disarms itself).</summary>
    private void Disarm()
    {
        _cancellation.Unregister(); // not Dispose: that would wait for a callback running on this very thread
        _cancellation = default;
        _token = default;
        if (_deadline != long.MaxValue)
        {
            Volatile.Write(ref _deadline, long.MaxValue);
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }
}
