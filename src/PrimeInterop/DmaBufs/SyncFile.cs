using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>An owned sync_file fd: a fence exported from, or to be imported into, a dma-buf.</summary>
public sealed partial class SyncFile : FileDescriptorHandle
{
    internal SyncFile(int fd, bool ownsHandle = true)
        : base(fd, ownsHandle)
    {
    }

    /// <summary>
    /// Wraps an fd received from elsewhere (for example over a socket) after asking the kernel that it is a
    /// sync_file (<c>SYNC_IOC_FILE_INFO</c> on an anonymous inode). With <paramref name="ownsHandle"/> the fd is
    /// closed when this object is disposed, and also when the check fails.
    /// </summary>
    /// <exception cref="ArgumentException">The fd is not a sync_file.</exception>
    public static SyncFile FromFileDescriptor(int fd, bool ownsHandle)
    {
        CheckKind(fd, ownsHandle, SyncFileUapi.IsSyncFile, "a sync_file");
        return new SyncFile(fd, ownsHandle);
    }
}
