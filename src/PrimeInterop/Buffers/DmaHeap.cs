using System.Globalization;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A dma-buf heap (<c>/dev/dma_heap/NAME</c>): the kernel's allocator of dma-bufs for media and embedded stacks
/// (<c>system</c>, and on some boards <c>linux,cma</c> or vendor heaps). Allocations are ordinary
/// <see cref="DmaBuf"/>s. Needs <c>CONFIG_DMABUF_HEAPS</c>.
/// </summary>
public sealed class DmaHeap : IDisposable
{
    private readonly SafeFileHandle _file;

    private DmaHeap(SafeFileHandle file, string name)
    {
        _file = file;
        Name = name;
    }

    /// <summary>The heap's name, such as <c>system</c>.</summary>
    public string Name { get; }

    /// <summary>The heap's device node.</summary>
    public string Path => System.IO.Path.Combine(DmaHeapUapi.Directory, Name);

    /// <summary>The names of the heaps this kernel offers (the entries of <c>/dev/dma_heap</c>), sorted; empty if none.</summary>
    public static IReadOnlyList<string> Enumerate() => Directory.Exists(DmaHeapUapi.Directory)
        ? [.. Directory.EnumerateFileSystemEntries(DmaHeapUapi.Directory).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)]
        : [];

    /// <summary>Opens a heap by name (close-on-exec).</summary>
    /// <param name="name">A heap name as <see cref="Enumerate"/> lists it, such as <c>system</c>.</param>
    /// <exception cref="DrmException">No such heap (ENOENT; the message names the heaps that exist), or no permission.</exception>
    public static DmaHeap Open(string name = "system")
    {
        Abi.ThrowIfUnsupported();
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('/', StringComparison.Ordinal) || name is "." or "..")
        {
            throw new ArgumentException($"'{name}' is not a heap name (no '/'): use a name from DmaHeap.Enumerate().", nameof(name));
        }

        string path = System.IO.Path.Combine(DmaHeapUapi.Directory, name);
        int errno = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, out int fd);
        if (errno != 0)
        {
            var heaps = Enumerate();
            ThrowHelper.Throw(errno, Libc.Operation.Open, path, hint: errno switch
            {
                Errno.ENOENT when heaps.Count == 0 => "this kernel has no dma-buf heaps (CONFIG_DMABUF_HEAPS, /dev/dma_heap is empty or missing)",
                Errno.ENOENT => $"no heap named '{name}'; the heaps here are: {string.Join(", ", heaps)}",
                Errno.EACCES or Errno.EPERM => $"no permission on {path}; a udev rule or group membership grants it",
                _ => null,
            });
        }

        return new DmaHeap(NewFd.Own(fd, static fd => new SafeFileHandle(fd, ownsHandle: true)), name);
    }

    /// <summary>
    /// Allocates a dma-buf of <paramref name="size"/> bytes (<c>DMA_HEAP_IOCTL_ALLOC</c>, rounded up to whole pages by
    /// the kernel), close-on-exec, with the access mode of <paramref name="flags"/>: writable mappings need
    /// <see cref="DmaBufExportFlags.ReadWrite"/> (the default here).
    /// </summary>
    /// <param name="size">The size in bytes, greater than zero.</param>
    /// <param name="flags"><see cref="DmaBufExportFlags.ReadWrite"/> (O_RDWR) or <see cref="DmaBufExportFlags.None"/> (O_RDONLY).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is zero or less, or more than the memory this process may use
    /// (the kernel's system heap would otherwise try, and wake the OOM killer).</exception>
    /// <exception cref="DrmException">The heap could not allocate (ENOMEM).</exception>
    public DmaBuf Allocate(long size, DmaBufExportFlags flags = DmaBufExportFlags.ReadWrite)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (size > memory)
        {
            // Linux 6.12's system heap has no such check: it allocates page after page until the OOM killer acts.
            throw new ArgumentOutOfRangeException(nameof(size), size, string.Create(CultureInfo.InvariantCulture,
                $"{size} bytes is more than the {memory} bytes of memory this process may use; the {Name} heap would try to allocate it all (and wake the OOM killer) before failing."));
        }

        ExportFlags.Check(flags);

        uint fdFlags = (uint)Libc.O_CLOEXEC | (flags == DmaBufExportFlags.ReadWrite ? (uint)Libc.O_RDWR : (uint)Libc.O_RDONLY);
        var dmaBuf = new DmaBuf(fd: -1, ownsHandle: true); // before the ioctl that makes the fd, so that nothing can fail between the two
        using var lease = new Lease(_file);
        int errno = DmaHeapUapi.Allocate(lease.Fd, (ulong)size, fdFlags, out int fd);
        ThrowHelper.ThrowIfError(errno, nameof(DmaHeapUapi.DMA_HEAP_IOCTL_ALLOC), Path, hint: errno == Errno.ENOMEM
            ? string.Create(CultureInfo.InvariantCulture, $"the {Name} heap could not allocate {size} bytes")
            : null);
        dmaBuf.Own(fd);
        return dmaBuf;
    }

    /// <summary>Closes the heap's fd; buffers allocated from it live on.</summary>
    public void Dispose() => _file.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"dma-buf heap {Name}";
}
