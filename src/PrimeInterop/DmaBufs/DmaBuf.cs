using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>The identity of a dma-buf: its inode on the dma-buf filesystem. Two fds of one buffer compare equal.</summary>
/// <param name="Device">The st_dev of the dma-buf pseudo filesystem.</param>
/// <param name="Inode">The dma-buf's inode number.</param>
public readonly record struct DmaBufIdentity(ulong Device, ulong Inode)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"dma-buf inode {Inode}");
}

/// <summary>
/// An owned dma-buf file descriptor (always close-on-exec when this library created it). A dma-buf keeps the
/// buffer object it was exported from alive until every fd, mapping and import of it is gone.
/// </summary>
public sealed partial class DmaBuf : FileDescriptorHandle
{
    internal DmaBuf(int fd, bool ownsHandle)
        : base(fd, ownsHandle)
    {
    }

    /// <summary>The buffer's size in bytes (<c>lseek(fd, 0, SEEK_END)</c>), read once.</summary>
    public long Size
    {
        get
        {
            Lazies lazies = LazyFacts;
            if (lazies.Size < 0)
            {
                using var lease = new Lease(this);
                ThrowHelper.ThrowIfError(Libc.Seek(lease.Fd, 0, Libc.SEEK_END, out long size), Libc.Operation.SeekEnd, "dma-buf", fd: lease.Fd);
                Libc.Seek(lease.Fd, 0, Libc.SEEK_SET, out _);
                lazies.Size = size;
            }

            return lazies.Size;
        }
    }

    /// <summary>The buffer's identity (inode); equal for every fd of the same dma-buf.</summary>
    public DmaBufIdentity Identity
    {
        get
        {
            Lazies lazies = LazyFacts;
            ulong inode = Volatile.Read(ref lazies.IdentityInode);
            if (inode != 0)
            {
                return new DmaBufIdentity(lazies.IdentityDevice, inode);
            }

            using var lease = new Lease(this);
            ThrowHelper.ThrowIfError(Libc.Stat(lease.Fd, out ulong dev, out ulong ino, out _, out _), Libc.Operation.FStat, "dma-buf", fd: lease.Fd);
            lazies.IdentityDevice = dev;
            Volatile.Write(ref lazies.IdentityInode, ino);
            return new DmaBufIdentity(dev, ino);
        }
    }

    /// <summary>The name set with <see cref="SetName"/> (by anyone), from <c>/proc/self/fdinfo</c>; null if none.</summary>
    public string? Name
    {
        get
        {
            using var lease = new Lease(this);
            foreach (string line in File.ReadLines($"/proc/self/fdinfo/{lease.Fd}"))
            {
                if (line.StartsWith("name:", StringComparison.Ordinal))
                {
                    return line[5..].Trim();
                }
            }

            return null;
        }
    }

    /// <summary>
    /// Wraps an existing fd after checking that it is a dma-buf. With <paramref name="ownsHandle"/> the fd is
    /// closed when this object is disposed (also when the check fails).
    /// </summary>
    /// <exception cref="ArgumentException">The fd is not a dma-buf.</exception>
    public static DmaBuf FromFileDescriptor(int fd, bool ownsHandle)
    {
        CheckKind(fd, ownsHandle, IsDmaBuf, "a dma-buf");
        return new DmaBuf(fd, ownsHandle);
    }

    /// <summary>Names the buffer for debugging (<c>DMA_BUF_SET_NAME</c>; shows in fdinfo and debugfs).</summary>
    /// <param name="name">At most 31 bytes of UTF-8.</param>
    public void SetName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int count = Encoding.UTF8.GetByteCount(name);
        if (count >= DmaBufUapi.DMA_BUF_NAME_LEN)
        {
            throw new ArgumentOutOfRangeException(nameof(name), $"A dma-buf name is at most {DmaBufUapi.DMA_BUF_NAME_LEN - 1} bytes; '{name}' is {count}.");
        }

        byte[] bytes = new byte[count + 1];
        Encoding.UTF8.GetBytes(name, bytes);
        using var lease = new Lease(this);
        ThrowHelper.ThrowIfError(DmaBufUapi.SetName(lease.Fd, bytes), nameof(DmaBufUapi.DMA_BUF_SET_NAME), "dma-buf", fd: lease.Fd);
    }

    /// <summary>
    /// Maps <paramref name="length"/> bytes from <paramref name="offset"/> (default: the whole buffer) for CPU
    /// access. The memory is reached only through <see cref="DmaBufMapping.BeginAccess"/>. A writable mapping needs
    /// an fd exported with <see cref="DmaBufExportFlags.ReadWrite"/>. A mapping is at most int.MaxValue bytes (a
    /// span's limit): map a larger buffer in windows.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not page-aligned, does not fit, or is over 2 GiB;
    /// checked before any syscall but the size's lseek.</exception>
    public DmaBufMapping Map(DmaBufAccess access = DmaBufAccess.ReadWrite, long offset = 0, long length = -1)
    {
        DmaBufMapping.ValidateAccess(access);
        length = MappingRange.Validate(Size, offset, length);
        int prot = ((access & DmaBufAccess.Read) != 0 ? Libc.PROT_READ : 0) | ((access & DmaBufAccess.Write) != 0 ? Libc.PROT_WRITE : 0);
        using var lease = new Lease(this);
        int errno = Libc.Mmap(lease.Fd, (nuint)length, prot, offset, out IntPtr address);
        ThrowHelper.ThrowIfError(errno, Libc.Operation.Mmap, "dma-buf", fd: lease.Fd, hint: errno == Errno.EACCES
            ? "a writable mapping needs a dma-buf exported with DmaBufExportFlags.ReadWrite" : null);
        try
        {
            return new DmaBufMapping(this, address, length);
        }
        catch
        {
            // Out of memory, or this dma-buf disposed by another thread since the lease (its reference is refused):
            // the range is unmapped again, not leaked.
            _ = Libc.Munmap(address, (nuint)length);
            throw;
        }
    }

    /// <summary>
    /// Exports the buffer's current fences as a sync_file (<c>DMA_BUF_IOCTL_EXPORT_SYNC_FILE</c>): with
    /// <see cref="DmaBufAccess.Write"/>, the fences a CPU write would wait for; with Read, those a read waits for.
    /// </summary>
    /// <exception cref="DrmException">With <see cref="DrmException.IsNotSupported"/> on kernels older than 6.0.</exception>
    public SyncFile ExportSyncFile(DmaBufAccess access)
    {
        DmaBufMapping.ValidateAccess(access);
        var syncFile = new SyncFile(fd: -1); // before the ioctl that makes the fd, so that nothing can fail between the two
        using var lease = new Lease(this);
        ThrowHelper.ThrowIfError(DmaBufUapi.ExportSyncFile(lease.Fd, (uint)access, out int syncFd), nameof(DmaBufUapi.DMA_BUF_IOCTL_EXPORT_SYNC_FILE), "dma-buf", fd: lease.Fd);
        syncFile.Own(syncFd);
        return syncFile;
    }

    /// <summary>
    /// Adds a sync_file's fence to the buffer (<c>DMA_BUF_IOCTL_IMPORT_SYNC_FILE</c>): as a write fence with
    /// <see cref="DmaBufAccess.Write"/>, else as a read fence. The sync_file stays the caller's.
    /// </summary>
    /// <exception cref="DrmException">With <see cref="DrmException.IsNotSupported"/> on kernels older than 6.0.</exception>
    public void ImportSyncFile(SyncFile syncFile, DmaBufAccess access)
    {
        ArgumentNullException.ThrowIfNull(syncFile);
        DmaBufMapping.ValidateAccess(access);
        using var sync = new Lease(syncFile);
        using var lease = new Lease(this);
        ThrowHelper.ThrowIfError(DmaBufUapi.ImportSyncFile(lease.Fd, (uint)access, sync.Fd), nameof(DmaBufUapi.DMA_BUF_IOCTL_IMPORT_SYNC_FILE), "dma-buf", fd: lease.Fd);
    }

    /// <summary>
    /// One more reference on the entry of <paramref name="table"/> that this dma-buf was last imported as, if it is
    /// still alive and still this dma-buf's object's: a duplicate import that needs no kernel call. An owned fd names
    /// one dma-buf for as long as this object is open (its number may be reused only after it is closed), so the
    /// entry hangs off this object, never off the fd number; a borrowed fd (ownsHandle false) has none.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // every import of a DmaBuf through the SafeHandle API looks
    internal GemHandleTable.Entry? ImportedEntry(GemHandleTable table, int deviceFd) =>
        LazyFactsMade is { Imported: { } entry } lazies && table.TryReuse(deviceFd, entry, Volatile.Read(ref lazies.ImportedGeneration)) ? entry : null;

    /// <summary>True when this object owns its fd, so that <see cref="ImportedEntry"/> may serve its imports.</summary>
    internal bool CanRemember => LazyFactsMade is not { Borrowed: true };

    /// <summary>
    /// Remembers <paramref name="entry"/> (counted, so alive) as this dma-buf's import, for <see cref="ImportedEntry"/>;
    /// only when <see cref="CanRemember"/>, and for a duplicate import only. The first time, a DmaBuf that has made no
    /// lazy facts is only marked: a buffer received and imported once per frame allocates nothing for a memory it
    /// will not use; one imported again (a pool's) remembers from its second duplicate import on.
    /// </summary>
    internal void RememberImport(GemHandleTable.Entry entry)
    {
        if (!MarkOnce())
        {
            Lazies lazies = LazyFacts;
            Volatile.Write(ref lazies.ImportedGeneration, Volatile.Read(ref entry.Generation));
            Volatile.Write(ref lazies.Imported, entry);
        }
    }

    /// <summary>A second, independently owned, close-on-exec fd for the same dma-buf.</summary>
    public DmaBuf Duplicate()
    {
        var copy = new DmaBuf(fd: -1, ownsHandle: true); // before the call that makes the fd, so that nothing can fail between the two
        using var lease = new Lease(this);
        ThrowHelper.ThrowIfError(Libc.DupCloseOnExec(lease.Fd, out int fd), Libc.Operation.DupCloseOnExec, "dma-buf", fd: lease.Fd);
        copy.Own(fd);
        return copy;
    }

    /// <inheritdoc/>
    public override string ToString() => IsClosed ? "dma-buf (closed)" : $"dma-buf fd {(int)handle}";

    /// <summary>
    /// True when <paramref name="fd"/> is open and refers to a dma-buf, by the kernel's answer: its filesystem is
    /// the dma-buf pseudo filesystem (<c>fstatfs</c> f_type <c>DMA_BUF_MAGIC</c>), and it was not opened O_PATH
    /// (<c>F_GETFL</c>): fstatfs answers for an O_PATH fd of a dma-buf too (one opened through /proc/PID/fd/N), but
    /// no ioctl, mmap or import works through it. Unlike the /proc link text, a peer cannot imitate that with a file
    /// of a chosen name. Allocates nothing.
    /// </summary>
    internal static bool IsDmaBuf(int fd) =>
        fd >= 0 && Libc.FileSystemType(fd, out long type) == 0 && type == Libc.DMA_BUF_MAGIC
        && Libc.GetStatusFlags(fd, out int flags) == 0 && (flags & Libc.O_PATH) == 0;

    /// <summary>What <paramref name="fd"/> is, for error messages.</summary>
    internal static string Describe(int fd) => Libc.ReadLink($"/proc/self/fd/{fd}") is not { } target ? "not open"
        : Libc.IsPathOnly(fd) ? target + " opened O_PATH (no I/O through it)" : target;
}
