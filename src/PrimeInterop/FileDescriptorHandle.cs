using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A SafeHandle over a Linux file descriptor that closes it exactly once. The base of <see cref="DmaBuf"/> and
/// <see cref="SyncFile"/>.
/// </summary>
public abstract class FileDescriptorHandle : SafeHandle
{
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

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Libc.Close((int)handle) == 0;
}
