using System.Text;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <content>Waiting for, inspecting and merging sync_files (include/uapi/linux/sync_file.h).</content>
public sealed partial class SyncFile
{
    /// <summary>
    /// Completes when the sync_file has signalled (it polls readable). One internal poller thread serves every
    /// pending wait in the process; the fd is registered there on the first wait and re-armed for each one after,
    /// until this object is disposed or finalized, which ends a pending wait (see <see cref="DmaBuf.WaitReadyAsync(DmaBufAccess, CancellationToken)"/>).
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; it then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="ObjectDisposedException">This sync_file was disposed, before or during the wait.</exception>
    public ValueTask WaitAsync(CancellationToken cancellationToken) => WaitAsync(Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>As <see cref="WaitAsync(CancellationToken)"/>, not cancellable.</summary>
    public ValueTask WaitAsync() => WaitAsync(Timeout.InfiniteTimeSpan, CancellationToken.None);

    /// <summary>As <see cref="WaitAsync(TimeSpan, CancellationToken)"/>, not cancellable.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever, zero to only look.</param>
    public ValueTask WaitAsync(TimeSpan timeout) => WaitAsync(timeout, CancellationToken.None);

    /// <summary>As <see cref="WaitAsync(CancellationToken)"/>, giving up after <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever, zero to only look.</param>
    /// <param name="cancellationToken">Cancels the wait; it then throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="TimeoutException">The sync_file did not signal in time.</exception>
    public ValueTask WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitForAsync(Epoll.EPOLLIN, timeout, "sync_file", cancellationToken);

    /// <summary>True when every fence in the sync_file has signalled (a poll with zero timeout).</summary>
    public bool IsSignaled
    {
        get
        {
            using var lease = new Lease(this);
            ThrowHelper.ThrowIfError(Libc.PollNow(lease.Fd, (short)Epoll.EPOLLIN, out int ready), Libc.Operation.Poll, "sync_file", fd: lease.Fd);
            return (ready & Epoll.EPOLLIN) != 0;
        }
    }

    /// <summary>The sync_file's name, status and fences (<c>SYNC_IOC_FILE_INFO</c>).</summary>
    public SyncFileInfo GetInfo()
    {
        using var lease = new Lease(this);
        ThrowHelper.ThrowIfError(SyncFileUapi.GetInfo(lease.Fd, out string name, out int status, out var fences), nameof(SyncFileUapi.SYNC_IOC_FILE_INFO), "sync_file", fd: lease.Fd,
            hint: "is this fd a sync_file?");
        var list = fences.Select(f => new SyncFenceInfo(f.Timeline, f.Driver, (FenceStatus)Math.Sign(f.Status), f.Status < 0 ? -f.Status : 0,
            f.Status != 0 ? TimeSpan.FromTicks((long)(f.TimestampNs / 100)) : null)).ToArray();
        return new SyncFileInfo(name, (FenceStatus)Math.Sign(status), status < 0 ? -status : 0, list);
    }

    /// <summary>
    /// A new sync_file that signals when both <paramref name="first"/> and <paramref name="second"/> have
    /// (<c>SYNC_IOC_MERGE</c>). The kernel keeps one fence per timeline (context): merging two points of one
    /// timeline gives a sync_file with only the later point. Close-on-exec; the inputs stay the caller's.
    /// </summary>
    /// <param name="first">One sync_file.</param>
    /// <param name="second">The other (may be the same one).</param>
    /// <param name="name">A name for debugging, at most 31 bytes of UTF-8.</param>
    public static SyncFile Merge(SyncFile first, SyncFile second, string name = "merged")
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        ArgumentNullException.ThrowIfNull(name);
        byte[] bytes = Encoding.UTF8.GetBytes(name);
        if (bytes.Length >= SyncFileUapi.NameLength)
        {
            throw new ArgumentOutOfRangeException(nameof(name), $"A sync_file name is at most {SyncFileUapi.NameLength - 1} bytes; '{name}' is {bytes.Length}.");
        }

        var result = new SyncFile(fd: -1); // before the ioctl that makes the fd, so that nothing can fail between the two
        using var a = new Lease(first);
        using var b = new Lease(second);
        ThrowHelper.ThrowIfError(SyncFileUapi.Merge(a.Fd, b.Fd, bytes, out int merged), nameof(SyncFileUapi.SYNC_IOC_MERGE), "sync_file", fd: a.Fd);
        result.Own(merged); // sync_file_merge installs it with O_CLOEXEC
        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => IsClosed ? "sync_file (closed)" : $"sync_file fd {(int)handle}";
}
