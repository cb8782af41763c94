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
        : base(new IntPtr(-1), ownsHandle) => SetHandle(new IntPtr(fd));

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
    /// Fires when this handle is disposed, so that pending waits on it end (with ObjectDisposedException) instead
    /// of holding a dup of the fd until the kernel signals.
    /// </summary>
    private protected CancellationToken DisposalToken
    {
        get
        {
            Lazies lazies = LazyFacts;
            if (lazies.Disposal is null)
            {
                Interlocked.CompareExchange(ref lazies.Disposal, new CancellationTokenSource(), null);
                if (IsClosed)
                {
                    lazies.Disposal.Cancel(); // disposed while the token was being made
                }
            }

            return lazies.Disposal.Token;
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && Volatile.Read(ref _lazies) is { } lazies)
        {
            Volatile.Read(ref lazies.Disposal)?.Cancel();
        }
    }

    /// <summary>The facts of this fd that are read or made once, on first use (shared by whoever races to make them).</summary>
    private protected Lazies LazyFacts
    {
        get
        {
            Lazies? lazies = Volatile.Read(ref _lazies);
            if (lazies is null)
            {
                Interlocked.CompareExchange(ref _lazies, new Lazies(), null);
                lazies = _lazies!;
            }

            return lazies;
        }
    }

    /// <summary>See <see cref="LazyFacts"/>.</summary>
    private protected sealed class Lazies
    {
#pragma warning disable SA1401 // fields: read and written with Volatile and Interlocked by their owner
        public CancellationTokenSource? Disposal;

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
