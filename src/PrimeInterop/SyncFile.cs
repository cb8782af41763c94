namespace PrimeInterop;

/// <summary>An owned sync_file fd: a fence exported from, or to be imported into, a dma-buf.</summary>
public sealed partial class SyncFile : FileDescriptorHandle
{
    internal SyncFile(int fd)
        : base(fd, ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of a sync_file fd received from elsewhere (for example over a socket).</summary>
    public static SyncFile FromFileDescriptor(int fd) => new(fd);
}
