using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>One range of a memfd for <see cref="Udmabuf.Create(IReadOnlyList{UdmabufRange})"/>.</summary>
/// <param name="Memfd">A memfd with <c>F_SEAL_SHRINK</c> and without <c>F_SEAL_WRITE</c>.</param>
/// <param name="Offset">Byte offset in the memfd; a multiple of the page size.</param>
/// <param name="Length">Byte length; a non-zero multiple of the page size, within the memfd's size.</param>
public readonly record struct UdmabufRange(SafeHandle Memfd, long Offset, long Length);

/// <summary>
/// dma-bufs made from ordinary memory (<c>/dev/udmabuf</c>): the pages of a sealed memfd, shared without a copy.
/// What software clients and virtual cameras hand to a compositor or encoder. The result is an ordinary
/// <see cref="DmaBuf"/> (close-on-exec, mappable read/write, importable into DRM drivers, passable over sockets).
/// Needs <c>CONFIG_UDMABUF</c>; the kernel caps one buffer at its <c>size_limit_mb</c> parameter (64 MiB by default).
/// </summary>
public static class Udmabuf
{
    /// <summary>The udmabuf misc device.</summary>
    public const string DevicePath = "/dev/udmabuf";

    /// <summary>True when this kernel offers udmabuf (the device node exists).</summary>
    public static bool IsAvailable => File.Exists(DevicePath);

    /// <summary>
    /// Creates a memfd of <paramref name="size"/> bytes ready for udmabuf: close-on-exec, sealed against shrinking
    /// and growing (<c>F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL</c>), writable. Write to it with
    /// <see cref="RandomAccess"/> or map it; the same pages appear in every udmabuf made from it.
    /// </summary>
    /// <param name="size">The size in bytes; a non-zero multiple of the page size.</param>
    /// <param name="name">The memfd's name (shows in /proc/PID/fd as <c>/memfd:NAME</c>).</param>
    public static SafeFileHandle CreateMemfd(long size, string name = "primeinterop-udmabuf")
    {
        Abi.ThrowIfUnsupported();
        ArgumentNullException.ThrowIfNull(name);
        CheckPageMultiple(size, nameof(size), allowZero: false);
        ThrowHelper.ThrowIfError(Memfd.Create(name, Memfd.MFD_CLOEXEC | Memfd.MFD_ALLOW_SEALING, out int fd), Libc.Operation.MemfdCreate, name);
        SafeFileHandle file = NewFd.Own(fd, static fd => new SafeFileHandle(fd, ownsHandle: true));
        try
        {
            ThrowHelper.ThrowIfError(Memfd.Truncate(fd, size), Libc.Operation.Truncate, $"memfd '{name}'", fd: fd);
            ThrowHelper.ThrowIfError(Memfd.AddSeals(fd, Memfd.F_SEAL_SHRINK | Memfd.F_SEAL_GROW | Memfd.F_SEAL_SEAL), Libc.Operation.AddSeals, $"memfd '{name}'", fd: fd);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a udmabuf of <paramref name="size"/> bytes over a memfd the library makes and seals
    /// (<see cref="CreateMemfd"/>) and closes again: the dma-buf alone keeps the pages alive.
    /// </summary>
    /// <param name="size">The size in bytes; a non-zero multiple of the page size.</param>
    public static DmaBuf Create(long size)
    {
        using var memfd = CreateMemfd(size);
        return Create(memfd, 0, size);
    }

    /// <summary>
    /// Creates a udmabuf over <paramref name="length"/> bytes of <paramref name="memfd"/> from <paramref name="offset"/>
    /// (<c>UDMABUF_CREATE</c>). The memfd stays the caller's; it may be closed afterwards and the buffer lives on.
    /// </summary>
    /// <param name="memfd">A memfd with <c>F_SEAL_SHRINK</c> and without <c>F_SEAL_WRITE</c>.</param>
    /// <param name="offset">Byte offset; a multiple of the page size.</param>
    /// <param name="length">Byte length; a non-zero multiple of the page size, within the memfd.</param>
    /// <exception cref="ArgumentException">The memfd or range breaks the kernel's rules; the message says which.</exception>
    /// <exception cref="DrmException">The kernel refused (for example EINVAL beyond <c>size_limit_mb</c>).</exception>
    public static DmaBuf Create(SafeHandle memfd, long offset, long length) => Create([new UdmabufRange(memfd, offset, length)]);

    /// <summary>
    /// Creates one udmabuf from several ranges, of one or several memfds, laid end to end
    /// (<c>UDMABUF_CREATE_LIST</c>). Each range follows the rules of <see cref="Create(SafeHandle, long, long)"/>.
    /// </summary>
    /// <param name="ranges">1 to 1024 ranges (the kernel's default <c>list_limit</c>), together at most long.MaxValue bytes.</param>
    public static DmaBuf Create(IReadOnlyList<UdmabufRange> ranges)
    {
        Abi.ThrowIfUnsupported();
        UdmabufRange[] copy = ArgumentCopy.AtMost(ranges, UdmabufUapi.DefaultListLimit, nameof(ranges)); // checked and used: the copy
        if (copy.Length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ranges), 0, $"A udmabuf takes 1 to {UdmabufUapi.DefaultListLimit} ranges.");
        }

        var memfds = new SafeHandle[copy.Length];
        long total = 0;
        for (int i = 0; i < copy.Length; i++)
        {
            memfds[i] = copy[i].Memfd;
            FdHandles.ThrowIfNotFd(memfds[i], nameof(ranges), i);
            long length = Math.Max(copy[i].Length, 0); // a negative length is CheckRange's to refuse
            if (length > long.MaxValue - total)
            {
                throw new ArgumentOutOfRangeException(nameof(ranges), string.Create(CultureInfo.InvariantCulture,
                    $"The ranges add up to more than {long.MaxValue} bytes ({nameof(ranges)}[{i}] is {length} bytes after {total})."));
            }

            total += length;
        }

        using var leases = new Leases(memfds); // every memfd stays open (and its number ours) until the ioctl is done
        var items = new UdmabufUapi.udmabuf_create_item[copy.Length];
        for (int i = 0; i < copy.Length; i++)
        {
            UdmabufRange r = copy[i];
            int fd = leases.Fds[i];
            CheckRange(fd, r, copy.Length == 1 ? "memfd" : $"{nameof(ranges)}[{i}]");
            items[i] = new UdmabufUapi.udmabuf_create_item { memfd = (uint)fd, offset = (ulong)r.Offset, size = (ulong)r.Length };
        }

        var dmaBuf = new DmaBuf(fd: -1, ownsHandle: true); // before the ioctl that makes the fd, so that nothing can fail between the two
        int errno = Libc.Open(DevicePath, Libc.O_RDWR | Libc.O_CLOEXEC, out int device);
        ThrowHelper.ThrowIfError(errno, Libc.Operation.Open, DevicePath, hint: errno == Errno.ENOENT ? "this kernel has no udmabuf (CONFIG_UDMABUF)" : null);
        int created;
        try
        {
            errno = copy.Length == 1
                ? UdmabufUapi.Create(device, (int)items[0].memfd, items[0].offset, items[0].size, out created)
                : UdmabufUapi.CreateList(device, items, out created);
        }
        finally
        {
            Libc.Close(device);
        }

        if (errno != 0)
        {
            ThrowHelper.Throw(errno, copy.Length == 1 ? nameof(UdmabufUapi.UDMABUF_CREATE) : nameof(UdmabufUapi.UDMABUF_CREATE_LIST), DevicePath, hint: errno switch
            {
                Errno.EINVAL => string.Create(CultureInfo.InvariantCulture,
                    $"{total} bytes may exceed the kernel's size_limit_mb (/sys/module/udmabuf/parameters/size_limit_mb, 64 MiB by default)"),
                Errno.ENOMEM => string.Create(CultureInfo.InvariantCulture, $"{total} bytes could not be pinned"),
                _ => null,
            });
        }

        dmaBuf.Own(created);
        return dmaBuf;
    }

    /// <summary>The kernel's rules (drivers/dma-buf/udmabuf.c), checked first so the error can say which one failed.</summary>
    private static void CheckRange(int fd, UdmabufRange r, string what)
    {
        int errno = Memfd.GetSeals(fd, out int seals);
        if (errno == Errno.EINVAL)
        {
            throw new ArgumentException($"{what}: fd {fd} ({Libc.ReadLink($"/proc/self/fd/{fd}") ?? "?"}) is not a sealable memfd; make one with Udmabuf.CreateMemfd or memfd_create(MFD_ALLOW_SEALING).", what);
        }

        ThrowHelper.ThrowIfError(errno, Libc.Operation.GetSeals, "memfd", fd: fd);
        if ((seals & Memfd.F_SEAL_SHRINK) == 0)
        {
            throw new ArgumentException($"{what}: memfd fd {fd} lacks F_SEAL_SHRINK, which udmabuf requires (the pages must not go away); add it with fcntl(F_ADD_SEALS, F_SEAL_SHRINK).", what);
        }

        if ((seals & (Memfd.F_SEAL_WRITE | Memfd.F_SEAL_FUTURE_WRITE)) != 0)
        {
            string seal = (seals & Memfd.F_SEAL_WRITE) != 0 ? "F_SEAL_WRITE" : "F_SEAL_FUTURE_WRITE";
            throw new ArgumentException($"{what}: memfd fd {fd} has {seal}, which udmabuf refuses (a dma-buf's pages are writable).", what);
        }

        CheckPageMultiple(r.Offset, $"{what}.Offset", allowZero: true);
        CheckPageMultiple(r.Length, $"{what}.Length", allowZero: false);
        ThrowHelper.ThrowIfError(Libc.FileSize(fd, out long fileSize), Libc.Operation.FStat, "memfd", fd: fd); // not lseek: the caller's file offset stays
        if (r.Offset > fileSize - r.Length)
        {
            throw new ArgumentOutOfRangeException(what, string.Create(CultureInfo.InvariantCulture,
                $"{what}: {r.Length} bytes at offset {r.Offset} go beyond the end of the {fileSize}-byte memfd (fd {fd})."));
        }
    }

    private static void CheckPageMultiple(long value, string name, bool allowZero)
    {
        int page = Environment.SystemPageSize;
        if (value < 0 || (value == 0 && !allowZero) || value % page != 0)
        {
            throw new ArgumentOutOfRangeException(name, value, allowZero
                ? $"Must be a non-negative multiple of the page size ({page}); udmabuf works in whole pages."
                : $"Must be a positive multiple of the page size ({page}); udmabuf works in whole pages.");
        }
    }
}
