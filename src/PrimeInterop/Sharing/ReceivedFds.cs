using System.Diagnostics.CodeAnalysis;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The fds that arrived with one message (close-on-exec). Take the ones you keep with <see cref="TakeDmaBuf"/>,
/// <see cref="TakeSyncFile"/> or <see cref="TakeFile"/>; disposing this closes every fd not taken. The fds are owned
/// by this result from the moment they arrive, so a result that is dropped (a timeout, an abandoned task) leaks
/// nothing: a finalizer closes them.
/// </summary>
/// <remarks>
/// What a receiver can trust: every fd is open, close-on-exec and this process's own; its kind is not. A peer may
/// send any fd, so take each one with the method that asks the kernel what it is.
/// <para>
/// One small object per message, whatever the number of fds, and no SafeHandle per fd until one is taken: fd passing
/// is on the hot path of a compositor or a decoder's client. The fds themselves sit in a finalizable holder that a
/// disposed result hands back to its thread for the next receive, because registering a new object for finalization
/// costs a per-frame receive more than everything else it allocates.
/// </para>
/// </remarks>
public sealed class ReceivedFds : IDisposable, IHoldable
{
    private Slots? _slots; // null once recycled: whoever ends the last hold closes and recycles
    private HolderCount _holders; // this result's own hold and each take in progress

    /// <summary>Takes over <paramref name="slots"/> and the fds in it.</summary>
    private ReceivedFds(int bytesReceived, Slots slots)
    {
        BytesReceived = bytesReceived;
        Count = slots.Count;
        _slots = slots;
    }

    /// <summary>Payload bytes received; 0 on a stream socket means the peer closed the connection.</summary>
    public int BytesReceived { get; }

    /// <summary>How many fds arrived.</summary>
    public int Count { get; }

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

    /// <summary>
    /// Owns <paramref name="fds"/> (this process's, just received) in a new result. If that fails (no memory), they
    /// are closed before the exception, so the caller never owns them after this call.
    /// </summary>
    internal static ReceivedFds Own(int bytesReceived, Span<int> fds)
    {
        Slots? slots = null;
        try
        {
            slots = Slots.FromSpare(fds);
            return new ReceivedFds(bytesReceived, slots);
        }
        catch
        {
            if (slots is null)
            {
                BorrowedReceivedFds.CloseRemaining(fds);
            }
            else
            {
                slots.ReleaseContents(); // its finalizer would too, later; now is better
            }

            throw;
        }
    }

    /// <summary>Closes every fd not taken. A take running on another thread finishes first.</summary>
    public void Dispose()
    {
        if (_holders.Dispose())
        {
            Recycle();
        }
    }

    /// <summary>
    /// Moves fd <paramref name="index"/> out of the holder first (so no one else can close it under the kernel check),
    /// then lets <paramref name="own"/> check it and wrap it; if that throws, the fd goes back.
    /// </summary>
    private T Take<T>(int index, Func<int, int, T> own)
        where T : class
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        using var lease = new Lease<ReceivedFds>(this); // the holder cannot be recycled under the take
        int[] fds = _slots!.Fds;
        int fd = Interlocked.Exchange(ref fds[index], -1);
        if (fd < 0)
        {
            throw AlreadyTaken(index);
        }

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
                fds[index] = fd; // not taken: it stays here (Dispose closes it, once this take has ended)
            }
        }
    }

    private static InvalidOperationException AlreadyTaken(int index) =>
        new($"Received fd #{index} was already taken (or this result disposed).");

    ref HolderCount IHoldable.Holders => ref _holders;

    void IHoldable.Release() => Recycle(); // disposed while a take held it

    [DoesNotReturn]
    void IHoldable.ThrowDisposed() => throw new InvalidOperationException("The received fds were already taken: this result was disposed.");

    /// <summary>Runs once, after Dispose and every take: closes the fds not taken and hands the holder back.</summary>
    private void Recycle()
    {
        Slots slots = _slots!;
        _slots = null;
        slots.ReleaseContents();
        Slots.ToSpare(slots);
    }

    /// <summary>The fds of one result (-1 once taken or closed), in a guard that closes them if the result is dropped.</summary>
    private sealed class Slots : ReleaseGuard
    {
        [ThreadStatic]
        private static Slots? t_spare;

        public int[] Fds = [];
        public int Count;

        /// <summary>A holder with <paramref name="fds"/> in it; throws (no memory) with the fds still the caller's.</summary>
        public static Slots FromSpare(ReadOnlySpan<int> fds)
        {
            Slots slots = t_spare ?? new Slots();
            t_spare = null;
            if (slots.Fds.Length < fds.Length)
            {
                try
                {
                    slots.Fds = new int[Math.Max(fds.Length, 4)];
                }
                catch
                {
                    ToSpare(slots);
                    throw;
                }
            }

            fds.CopyTo(slots.Fds);
            slots.Count = fds.Length;
            return slots;
        }

        /// <summary>Keeps an emptied holder for this thread's next receive.</summary>
        public static void ToSpare(Slots slots) => t_spare ??= slots;

        public override void ReleaseContents()
        {
            int[] fds = Fds;
            for (int i = 0; i < Count; i++)
            {
                int fd = Interlocked.Exchange(ref fds[i], -1);
                if (fd >= 0)
                {
                    Libc.Close(fd);
                }
            }

            Count = 0;
        }
    }
}
