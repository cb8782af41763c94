using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A SafeHandle over a Linux file descriptor that closes it exactly once. The base of <see cref="DmaBuf"/> and
/// <see cref="SyncFile"/>.
/// </summary>
public abstract class FileDescriptorHandle : SafeHandle
{
    private CancellationTokenSource? _disposal;

    private protected FileDescriptorHandle(int fd, bool ownsHandle)
        : base(new IntPtr(-1), ownsHandle) => SetHandle(new IntPtr(fd));

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
            if (_disposal is null)
            {
                Interlocked.CompareExchange(ref _disposal, new CancellationTokenSource(), null);
                if (IsClosed)
                {
                    _disposal.Cancel(); // disposed while the token was being made
                }
            }

            return _disposal.Token;
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            Volatile.Read(ref _disposal)?.Cancel();
        }
    }
}
