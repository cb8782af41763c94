using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// The one thread that waits for fd readiness on behalf of every pending wait (dma-buf fences, sync_files):
/// one epoll instance, one registration per wait. Each wait registers its own close-on-exec dup of the caller's
/// fd, so waits on the same buffer never collide in epoll and the caller may close its fd meanwhile. Whoever
/// finishes a wait first (readiness, cancellation, timeout, disposal of the waited-on object) removes it from
/// epoll and closes the dup, under one lock, exactly once.
/// </summary>
internal sealed class FdPoller
{
    private static readonly Lazy<FdPoller> Shared = new(() => new FdPoller(), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly int _epoll; // open for the life of the process, like the runtime's own socket engine
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, PendingWait> _waits = [];
    private ulong _nextId;

    private FdPoller()
    {
        ThrowHelper.ThrowIfError(Epoll.Create(out _epoll), Libc.Operation.EpollCreate, "the readiness poller");
        Thread = new Thread(Run) { IsBackground = true, Name = "PrimeInterop poller" };
        Thread.Start();
    }

    /// <summary>The process's poller, created (one epoll fd, one thread) on first use.</summary>
    public static FdPoller Instance => Shared.Value;

    /// <summary>The poller's thread.</summary>
    public Thread Thread { get; }

    /// <summary>How many waits are registered in epoll right now.</summary>
    public int RegisteredCount
    {
        get
        {
            lock (_gate)
            {
                return _waits.Count;
            }
        }
    }

    /// <summary>
    /// Completes when <paramref name="handle"/>'s fd reports one of <paramref name="events"/>; throws
    /// <see cref="TimeoutException"/>, <see cref="OperationCanceledException"/>, or <see cref="ObjectDisposedException"/>
    /// when <paramref name="disposal"/> fires (the waited-on object was disposed). An fd that reports only an error or
    /// hang-up is an <see cref="Errno.EIO"/> error, unless <paramref name="errorIsReady"/>: then the caller's next
    /// call on the fd reports the real error (a socket's send gives EPIPE, say).
    /// </summary>
    public async Task WaitAsync(SafeHandle handle, uint events, TimeSpan timeout, string what, CancellationToken disposal,
        CancellationToken cancellationToken, bool errorIsReady = false)
    {
        long ms = (long)timeout.TotalMilliseconds;
        if (timeout != Timeout.InfiniteTimeSpan && (ms < 0 || ms > int.MaxValue))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be Timeout.InfiniteTimeSpan or between 0 and int.MaxValue milliseconds.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        int dup;
        using (var lease = new HandleLease(handle))
        {
            ThrowHelper.ThrowIfError(Libc.DupCloseOnExec(lease.Fd, out dup), Libc.Operation.DupCloseOnExec, what, fd: lease.Fd);
        }

        int ready = Epoll.PollNow(dup, (short)events);
        if (ready != 0 || timeout == TimeSpan.Zero)
        {
            Libc.Close(dup);
            ThrowHelper.ThrowIfError(ready < 0 ? -ready : 0, Libc.Operation.Poll, what);
            if (ready == 0)
            {
                throw new TimeoutException($"{what} was not ready (timeout 0).");
            }

            if (!errorIsReady)
            {
                ThrowIfOnlyError(ready, events, what);
            }

            return;
        }

        var wait = new PendingWait(this, dup);
        Register(wait, events, what);
        using var timer = timeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(timeout);
        using var byCaller = cancellationToken.UnsafeRegister(static w => ((PendingWait)w!).Finish(WaitOutcome.Canceled, 0), wait);
        using var byDisposal = disposal.UnsafeRegister(static w => ((PendingWait)w!).Finish(WaitOutcome.Disposed, 0), wait);
        using var byTimer = timer is null ? default : timer.Token.UnsafeRegister(static w => ((PendingWait)w!).Finish(WaitOutcome.TimedOut, 0), wait);
        (WaitOutcome outcome, uint revents) = await wait.Task.ConfigureAwait(false);
        switch (outcome)
        {
            case WaitOutcome.Canceled:
                throw new OperationCanceledException($"The wait for {what} was canceled.", cancellationToken);
            case WaitOutcome.TimedOut:
                throw new TimeoutException($"{what} was not ready within {timeout.TotalMilliseconds} ms.");
            case WaitOutcome.Disposed:
                throw new ObjectDisposedException(what, $"{what} was disposed while a wait on it was pending.");
            default:
                if (!errorIsReady)
                {
                    ThrowIfOnlyError((int)revents, events, what);
                }

                break;
        }
    }

    private static void ThrowIfOnlyError(int revents, uint wanted, string what)
    {
        if ((revents & wanted) == 0)
        {
            ThrowHelper.Throw(Errno.EIO, Libc.Operation.Poll, what, hint: $"the fd reported events 0x{revents:x} (error or hang-up) instead of readiness");
        }
    }

    private void Register(PendingWait wait, uint events, string what)
    {
        int errno;
        lock (_gate)
        {
            wait.Id = ++_nextId;
            _waits.Add(wait.Id, wait);
            errno = Epoll.Add(_epoll, wait.Fd, events | Epoll.EPOLLONESHOT, wait.Id);
            if (errno != 0)
            {
                _waits.Remove(wait.Id);
                Libc.Close(wait.Fd);
            }
        }

        ThrowHelper.ThrowIfError(errno, Libc.Operation.EpollAdd, what, hint: errno == Errno.EPERM ? "this fd does not support poll" : null);
    }

    /// <summary>Unregisters and closes the wait's fd if it is still registered; true for the one caller that did.</summary>
    private bool Remove(PendingWait wait)
    {
        lock (_gate)
        {
            if (!_waits.Remove(wait.Id))
            {
                return false;
            }

            Epoll.Delete(_epoll, wait.Fd);
            Libc.Close(wait.Fd);
            return true;
        }
    }

    private void Run()
    {
        var events = new Epoll.epoll_event[64];
        while (true)
        {
            int n = Epoll.Wait(_epoll, events, -1);
            for (int i = 0; i < n; i++)
            {
                PendingWait? wait;
                lock (_gate)
                {
                    _waits.TryGetValue(events[i].data, out wait);
                }

                wait?.Finish(WaitOutcome.Ready, events[i].events);
            }
        }
    }

    private enum WaitOutcome
    {
        Ready,
        Canceled,
        TimedOut,
        Disposed,
    }

    private sealed class PendingWait(FdPoller poller, int fd)
        : TaskCompletionSource<(WaitOutcome, uint)>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public ulong Id { get; set; }

        public int Fd { get; } = fd;

        public void Finish(WaitOutcome outcome, uint revents)
        {
            if (poller.Remove(this))
            {
                TrySetResult((outcome, revents));
            }
        }
    }
}
