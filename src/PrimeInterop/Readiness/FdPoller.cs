using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The one thread that waits for fd readiness on behalf of every pending wait in the process (dma-buf fences,
/// sync_files, full sockets, and any fd a <see cref="PollWaiter"/> is made for): one epoll instance, one registration
/// per <see cref="PollWaiter"/>, re-armed for each wait. A registration's epoll data is its slot here (high 32 bits)
/// and the armed wait's sequence number (low 32), so an event is matched to the wait it was armed for and a late
/// event of an earlier wait, or of a closed waiter whose slot was reused, completes nothing.
/// <para>
/// Two ways in. <see cref="FileDescriptorHandle.WaitForAsync"/> for an fd the library owns (a dma-buf, a sync_file, a
/// DRM device's file for its events, a CRC file): the handle keeps its <see cref="PollWaiter"/>s, re-armed for each
/// wait and closed before the fd is. And <see cref="WaitOnceAsync"/> for an fd the library does not own (a caller's
/// socket): one wait, with a reference on the caller's handle and a dup of its own, both given back the moment the
/// wait completes.
/// </para>
/// </summary>
internal sealed class FdPoller
{
    private const int MaxEvents = 64;

    private static readonly Lazy<FdPoller> Shared = new(() => new FdPoller(), LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly int _epoll; // open for the life of the process, like the runtime's own socket engine
    private readonly Lock _gate = new(); // the slot table
    private readonly Stack<int> _freeSlots = new();
    private PollWaiter?[] _slots = new PollWaiter?[64]; // read without the lock by the poller's thread
    private int _usedSlots; // slots handed out so far (below it: in use or in _freeSlots)
    private uint _sequence;

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

    /// <summary>The epoll fd: its /proc/self/fdinfo lists every registration and what it is armed for (the kernel's view).</summary>
    internal int EpollFd => _epoll;

    /// <summary>
    /// Completes when <paramref name="handle"/>'s fd reports one of <paramref name="events"/>, for an fd the library
    /// does not own. The wait holds <paramref name="handle"/> (a <see cref="Hold"/>), so its fd cannot be
    /// closed and its number reused while the wait is registered, and registers a close-on-exec dup of its own (so
    /// that waits on one fd never collide in epoll). Both are given back the moment the wait completes, before its
    /// continuation runs. A caller's Dispose of the handle takes effect then; a <see cref="System.Net.Sockets.Socket"/>'s
    /// Dispose shuts the socket down (it does that to any call still holding it), which ends the wait at once.
    /// </summary>
    /// <param name="handle">The caller's handle of the fd.</param>
    /// <param name="events">EPOLLIN, EPOLLOUT.</param>
    /// <param name="kind">What the fd is, for messages ("socket").</param>
    /// <param name="errorIsReady">An error or hang-up alone completes the wait: the caller's next call on the fd
    /// reports the real error (a socket's send gives EPIPE).</param>
    /// <param name="cancellationToken">Ends the wait with OperationCanceledException.</param>
    public ValueTask WaitOnceAsync(SafeHandle handle, uint events, string kind, bool errorIsReady, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        var waiter = new PollWaiter(this, kind, shownFd: -1, once: true);
        Hold caller = default;
        try
        {
            caller = Hold.On(handle);
            ThrowHelper.ThrowIfError(Libc.DupCloseOnExec(caller.ParentFd, out int dup), Libc.Operation.DupCloseOnExec, kind, fd: caller.ParentFd);
            waiter.SetFd(dup, owns: true, caller); // the waiter closes the dup and ends the hold
            caller = default;
            waiter.TryAcquire();
            return waiter.Arm(events, Timeout.InfiniteTimeSpan, errorIsReady, cancellationToken);
        }
        catch (Exception e)
        {
            waiter.Close();
            caller.End();
            return ValueTask.FromException(e);
        }
    }

    /// <summary>A sequence number for a wait about to be armed: never 0, unique across waiters until it wraps.</summary>
    public uint NextSequence()
    {
        uint seq;
        do
        {
            seq = Interlocked.Increment(ref _sequence);
        }
        while (seq == 0);
        return seq;
    }

    /// <summary>
    /// Arms <paramref name="waiter"/>'s one-shot registration for wait <paramref name="seq"/>: the first time an
    /// EPOLL_CTL_ADD (which gives the waiter a slot), then EPOLL_CTL_MOD. Returns 0 or the errno. An fd that is ready
    /// already reports the event at once.
    /// </summary>
    public int Arm(PollWaiter waiter, uint events, uint seq, bool registered)
    {
        if (registered)
        {
            return Epoll.Control(_epoll, Epoll.EPOLL_CTL_MOD, waiter.Fd, events | Epoll.EPOLLONESHOT, Data(waiter.Slot, seq));
        }

        lock (_gate)
        {
            int slot = _freeSlots.TryPop(out int free) ? free : _usedSlots;
            if (slot == _slots.Length)
            {
                var grown = new PollWaiter?[_slots.Length * 2];
                _slots.CopyTo(grown, 0);
                Volatile.Write(ref _slots, grown); // the poller's thread may still read the old one: it holds the same waiters
            }

            _slots[slot] = waiter; // before the registration: its first event may come at once
            waiter.Slot = slot;
            int errno = Epoll.Control(_epoll, Epoll.EPOLL_CTL_ADD, waiter.Fd, events | Epoll.EPOLLONESHOT, Data(slot, seq));
            if (errno != 0)
            {
                _slots[slot] = null;
                waiter.Slot = -1;
                _freeSlots.Push(slot);
                return errno;
            }

            _usedSlots = Math.Max(_usedSlots, slot + 1);
            return 0;
        }
    }

    /// <summary>
    /// Leaves <paramref name="waiter"/>'s registration armed for nothing (a wait that ended without its event: canceled,
    /// timed out), so that the fd's readiness no longer wakes this thread. The waiter's lock is held: the fd is open.
    /// </summary>
    public void Disarm(PollWaiter waiter) =>
        _ = Epoll.Control(_epoll, Epoll.EPOLL_CTL_MOD, waiter.Fd, Epoll.EPOLLONESHOT, Data(waiter.Slot, 0));

    /// <summary>Removes <paramref name="waiter"/>'s registration (its fd still open) and frees its slot.</summary>
    public void Unregister(PollWaiter waiter)
    {
        _ = Epoll.Delete(_epoll, waiter.Fd); // fails only for an fd closed behind its owner's back, which epoll forgot already
        lock (_gate)
        {
            _slots[waiter.Slot] = null;
            _freeSlots.Push(waiter.Slot);
            waiter.Slot = -1;
        }
    }

    private static ulong Data(int slot, uint seq) => ((ulong)(uint)slot << 32) | seq;

    private void Run()
    {
        var events = new Epoll.epoll_event[MaxEvents];
        while (true)
        {
            _ = Epoll.Wait(_epoll, events, -1, out int n); // EINTR is retried; no other error is possible on a valid set
            PollWaiter?[] slots = Volatile.Read(ref _slots);
            for (int i = 0; i < n; i++)
            {
                ulong data = events[i].data;
                uint slot = (uint)(data >> 32);
                if (slot < (uint)slots.Length)
                {
                    slots[slot]?.OnReady((uint)data, events[i].events);
                }
            }
        }
    }
}
