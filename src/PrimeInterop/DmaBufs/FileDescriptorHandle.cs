using System.Diagnostics;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A SafeHandle over a Linux file descriptor that closes it exactly once. The base of <see cref="DmaBuf"/> and
/// <see cref="SyncFile"/>.
/// </summary>
public abstract class FileDescriptorHandle : SafeHandle
{
    // What only some fds ever need, made on first use: a DmaBuf is allocated per export, so every field here is
    // paid per frame (with this, a DmaBuf is 40 bytes, the least a SafeHandle can be plus this reference).
    private Lazies? _lazies;

    private protected FileDescriptorHandle(int fd, bool ownsHandle)
        : base(new IntPtr(-1), ownsHandle)
    {
        SetHandle(new IntPtr(fd));
        if (!ownsHandle)
        {
            _lazies = new Lazies { Borrowed = true };
        }
    }

    /// <summary>
    /// Takes <paramref name="fd"/>, just made by the kernel, into an owner made for it with fd -1 before the call, as
    /// P/Invoke's SafeHandle marshalling does: nothing (an allocation that fails) may come between the kernel making
    /// an fd and its owner, or the fd would leak. Once.
    /// </summary>
    internal void Own(int fd)
    {
        Debug.Assert(IsInvalid && !IsClosed, "an fd is owned once, by an owner made for it");
        SetHandle(new IntPtr(fd));
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle.ToInt64() < 0;

    /// <summary>
    /// The check of a FromFileDescriptor: ArgumentException naming what <paramref name="fd"/> really is unless the
    /// kernel says it is <paramref name="kind"/>; an fd the caller handed over (<paramref name="ownsHandle"/>) is closed
    /// first, as the new owner would have.
    /// </summary>
    private protected static void CheckKind(int fd, bool ownsHandle, Func<int, bool> isKind, string kind)
    {
        Abi.ThrowIfUnsupported(ownsHandle ? fd : -1);
        if (!isKind(fd))
        {
            string what = DmaBuf.Describe(fd);
            if (ownsHandle && fd >= 0)
            {
                _ = Libc.Close(fd);
            }

            throw new ArgumentException($"fd {fd} is not {kind} ({what}).", nameof(fd));
        }
    }

    /// <summary>The fd number. Valid only while this handle is open; prefer passing the handle itself.</summary>
    public int FileDescriptor
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return (int)handle;
        }
    }

    /// <summary>
    /// Completes when this fd reports one of <paramref name="events"/> (poll(2) semantics), through one of this
    /// handle's <see cref="PollWaiter"/>s, registered in the process's one epoll set on first use and re-armed for
    /// every wait after, so that a wait allocates nothing (without a cancellation token). The first waiter registers this fd itself; a wait that overlaps another on the
    /// same handle gets a waiter of its own, with a dup. They live as long as this handle: its Dispose, or its
    /// finalizer, ends a pending wait (ObjectDisposedException) and removes them from epoll before the fd is closed.
    /// </summary>
    /// <param name="events">EPOLLIN, EPOLLOUT.</param>
    /// <param name="timeout">Infinite, zero to only look, or at most int.MaxValue ms.</param>
    /// <param name="kind">What the fd is, for messages.</param>
    /// <param name="cancellationToken">Ends the wait with OperationCanceledException.</param>
    /// <param name="continueInline">The library's own continuation runs on the completing thread (see PollWaiter.Arm).</param>
    internal ValueTask WaitForAsync(uint events, TimeSpan timeout, string kind, CancellationToken cancellationToken, bool continueInline = false)
    {
        long ms = (long)timeout.TotalMilliseconds;
        if (timeout != Timeout.InfiniteTimeSpan && (ms < 0 || ms > int.MaxValue))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be Timeout.InfiniteTimeSpan or between 0 and int.MaxValue milliseconds.");
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        try
        {
            using var lease = new Lease(this);
            if (timeout == TimeSpan.Zero)
            {
                return Look(lease.Fd, events, kind);
            }

            // No look first: that is a poll(2) on every wait, and arming reports an fd that is ready already at once
            // (through the poller's thread). A caller whose buffers are mostly ready looks first with IsReady.
            return AcquireWaiter(lease.Fd, kind).Arm(events, timeout, errorIsReady: false, cancellationToken, continueInline);
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>A wait with timeout zero: ready now, or TimeoutException (poll(2) with a zero timeout).</summary>
    private static ValueTask Look(int fd, uint events, string kind)
    {
        ThrowHelper.ThrowIfError(Libc.PollNow(fd, (short)events, out int ready), Libc.Operation.Poll, kind, fd: fd);
        if (ready == 0)
        {
            throw new TimeoutException($"{kind} fd {fd} was not ready (timeout 0).");
        }

        if ((ready & events) == 0)
        {
            ThrowHelper.Throw(Errno.EIO, Libc.Operation.Poll, kind, fd: fd, hint: $"the fd reported events 0x{ready:x} (error or hang-up) instead of readiness");
        }

        return default;
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        CloseWaiters(); // out of epoll before the fd closes: a registration outlives its fd number if the file does
        return Libc.Close((int)handle) == 0;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);

        // Also from the finalizer: a wait on a handle nobody disposed ends now, not when its fence signals. When a
        // call still holds the fd (so ReleaseHandle has not run yet), the fd is open, and its registration leaves
        // epoll here.
        CloseWaiters();
    }

    /// <summary>A free waiter of this handle, or a new one; the caller holds the fd (<paramref name="fd"/>) open.</summary>
    private PollWaiter AcquireWaiter(int fd, string kind)
    {
        Lazies lazies = LazyFacts;
        for (PollWaiter? w = Volatile.Read(ref lazies.Waiters); w is not null; w = w.Next)
        {
            if (w.TryAcquire())
            {
                return w;
            }
        }

        return AddWaiter(lazies, fd, kind);
    }

    private PollWaiter AddWaiter(Lazies lazies, int fd, string kind)
    {
        var waiter = new PollWaiter(FdPoller.Instance, kind, fd);

        // This fd itself, when it is this handle's to close (ReleaseHandle takes it out of epoll first) and no other
        // waiter has it (epoll takes an fd once); else a dup that the waiter owns.
        if (!lazies.Borrowed && Interlocked.CompareExchange(ref lazies.OwnFdRegistered, 1, 0) == 0)
        {
            waiter.SetFd(fd, owns: false);
        }
        else
        {
            ThrowHelper.ThrowIfError(Libc.DupCloseOnExec(fd, out int dup), Libc.Operation.DupCloseOnExec, kind, fd: fd);
            waiter.SetFd(dup, owns: true);
        }

        waiter.TryAcquire();
        PollWaiter? head;
        do
        {
            head = Volatile.Read(ref lazies.Waiters);
            waiter.Next = head;
        }
        while (Interlocked.CompareExchange(ref lazies.Waiters, waiter, head) != head);

        if (IsClosed)
        {
            CloseWaiters(); // disposed meanwhile: its walk of the list may have missed this one
        }

        return waiter;
    }

    /// <summary>Closes this handle's waiters (a pending wait ends with ObjectDisposedException); later waits are refused.</summary>
    private protected void CloseWaiters()
    {
        for (PollWaiter? w = Volatile.Read(ref _lazies)?.Waiters; w is not null; w = w.Next)
        {
            w.Close();
        }
    }

    /// <summary>The facts of this fd that are read or made once, on first use (shared by whoever races to make them).</summary>
    private protected Lazies LazyFacts
    {
        get
        {
            Lazies? lazies = Volatile.Read(ref _lazies);
            while (lazies is null || ReferenceEquals(lazies, Lazies.Marked))
            {
                var made = new Lazies();
                Lazies? seen = Interlocked.CompareExchange(ref _lazies, made, lazies);
                lazies = ReferenceEquals(seen, lazies) ? made : seen;
            }

            return lazies;
        }
    }

    /// <summary>The facts made so far (all defaults while none were), to read: nothing is allocated.</summary>
    private protected Lazies? LazyFactsMade => Volatile.Read(ref _lazies);

    /// <summary>
    /// Marks this handle, without allocating, when no facts were made for it yet: true for the one caller that did.
    /// Then <see cref="LazyFactsMade"/> reads as defaults and <see cref="LazyFacts"/> makes them as before.
    /// </summary>
    private protected bool MarkOnce() => Interlocked.CompareExchange(ref _lazies, Lazies.Marked, null) is null;

    /// <summary>See <see cref="LazyFacts"/>.</summary>
    private protected sealed class Lazies
    {
        /// <summary>Shared by every handle marked with <see cref="MarkOnce"/>; never written (LazyFacts replaces it).</summary>
        public static readonly Lazies Marked = new();

#pragma warning disable SA1401 // fields: read and written with Volatile and Interlocked by their owner
        /// <summary>This handle's waiters (a list that only grows until the handle is closed).</summary>
        public PollWaiter? Waiters;

        /// <summary>1 once a waiter registered this fd itself.</summary>
        public int OwnFdRegistered;

        /// <summary>The fd is not this handle's to close (made with ownsHandle false): its owner may close it, and the
        /// number then names another file, at any time.</summary>
        public bool Borrowed;

        /// <summary>
        /// A dma-buf's last duplicate import (an entry of a device's handle table) and the generation the entry had:
        /// while the entry still has it, it is this dma-buf's object's handle (see DmaBuf.ImportedEntry).
        /// Written as a pair without a lock: a torn pair names two generations, and never matches.
        /// </summary>
        public GemHandleTable.Entry? Imported;
        public long ImportedGeneration;

        /// <summary>A dma-buf's size; -1 until read.</summary>
        public long Size = -1;

        /// <summary>
        /// The fd's identity (st_dev, st_ino); inode 0 means not read yet (get_next_ino never gives 0). The inode is
        /// published after the device, so a reader that sees it sees both.
        /// </summary>
        public ulong IdentityDevice;
        public ulong IdentityInode;
#pragma warning restore SA1401
    }
}

/// <summary>
/// A file the library opens for itself and reads (a debugfs CRC file): owned, closed once, and awaitable through
/// <see cref="FileDescriptorHandle.WaitForAsync"/> (Dispose ends a pending wait).
/// </summary>
internal sealed class OwnedFile : FileDescriptorHandle
{
    public OwnedFile(int fd)
        : base(fd, ownsHandle: true)
    {
    }

    /// <inheritdoc/>
    public override string ToString() => IsClosed ? "file (closed)" : $"file fd {(int)handle}";
}
