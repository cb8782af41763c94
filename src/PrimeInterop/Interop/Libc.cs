using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using System.Text;
using Tmds.Linux;

// struct statfs keeps the kernel's name (all lower case) so the layout probe and a reader match it to the header.
#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>
/// The plain libc calls the library makes, through Tmds.LibC except close(2) (see <see cref="Close"/>) and those Tmds.LibC
/// binds without SetLastError. Each returns 0 or the errno, read as <see cref="Libraries"/> says, immediately after the
/// failing call; callers turn a non-zero errno into an exception with <see cref="ThrowHelper"/>.
/// </summary>
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_NOCTTY = 0x100, O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800, O_PATH = 0x200000;
    public const int F_GETFL = 3, F_SETFL = 4, F_DUPFD_CLOEXEC = 1030;
    public const short POLLIN = 0x1, POLLOUT = 0x4;

    /// <summary>f_type of the dma-buf pseudo filesystem (include/uapi/linux/magic.h).</summary>
    public const long DMA_BUF_MAGIC = 0x444d4142;

    /// <summary>f_type of the anonymous-inode filesystem (sync_file, eventfd, …) (include/uapi/linux/magic.h).</summary>
    public const long ANON_INODE_FS_MAGIC = 0x09041934;

    /// <summary>struct statfs on x86-64 (sys/statfs.h); only f_type is read.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct statfs
    {
        public long f_type;
        public long f_bsize;
        public ulong f_blocks;
        public ulong f_bfree;
        public ulong f_bavail;
        public ulong f_files;
        public ulong f_ffree;
        public ulong f_fsid;
        public long f_namelen;
        public long f_frsize;
        public long f_flags;
        public fixed long f_spare[4];
    }
    public const int SEEK_SET = 0, SEEK_END = 2;
    public const uint S_IFMT = 0xF000, S_IFCHR = 0x2000;
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

    /// <summary>The names these calls go by in a <see cref="DrmException"/>'s <see cref="DrmException.Operation"/>.</summary>
    public static class Operation
    {
        public const string Open = "open", Stat = "stat", FStat = "fstat", Mmap = "mmap", Recv = "recv",
            PollIn = "poll(POLLIN)", PollOut = "poll(POLLOUT)", SeekEnd = "lseek(SEEK_END)",
            SetFlags = "fcntl(F_SETFL)", DupCloseOnExec = "fcntl(F_DUPFD_CLOEXEC)", Poll = "poll",
            MemfdCreate = "memfd_create", Truncate = "ftruncate", AddSeals = "fcntl(F_ADD_SEALS)", GetSeals = "fcntl(F_GET_SEALS)",
            EpollCreate = "epoll_create1", EpollAdd = "epoll_ctl(EPOLL_CTL_ADD)", EpollMod = "epoll_ctl(EPOLL_CTL_MOD)", Read = "read", Write = "write";
    }

    public static int Open(string path, int flags, out int fd)
    {
        int byteCount = Encoding.UTF8.GetByteCount(path);
        Span<byte> bytes = byteCount < 512 ? stackalloc byte[byteCount + 1] : new byte[byteCount + 1];
        Encoding.UTF8.GetBytes(path, bytes);
        bytes[byteCount] = 0;
        fixed (byte* p = bytes)
        {
            do
            {
                fd = LibC.open(p, flags, 0);
            }
            while (fd == -1 && Marshal.GetLastPInvokeError() == Errno.EINTR);
            return fd == -1 ? Marshal.GetLastPInvokeError() : 0;
        }
    }

    /// <summary>read(2) into <paramref name="buffer"/>, retried on EINTR. Returns 0 or the errno (EAGAIN included).</summary>
    public static int Read(int fd, Span<byte> buffer, out int count)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                long n = LibC.read(fd, p, (size_t)(ulong)buffer.Length);
                int errno = n == -1 ? Marshal.GetLastPInvokeError() : 0;
                if (errno != Errno.EINTR)
                {
                    count = errno == 0 ? (int)n : 0;
                    return errno;
                }
            }
        }
    }

    /// <summary>write(2) of <paramref name="data"/>, retried on EINTR. Returns 0 or the errno.</summary>
    public static int Write(int fd, ReadOnlySpan<byte> data, out int count)
    {
        fixed (byte* p = data)
        {
            while (true)
            {
                long n = LibC.write(fd, p, (size_t)(ulong)data.Length);
                int errno = n == -1 ? Marshal.GetLastPInvokeError() : 0;
                if (errno != Errno.EINTR)
                {
                    count = errno == 0 ? (int)n : 0;
                    return errno;
                }
            }
        }
    }

    /// <summary>close(2) exactly once; EINTR is not retried, since Linux has closed the fd by then.</summary>
    public static int Close(int fd) => SysClose(fd) == -1 ? Marshal.GetLastSystemError() : 0;

    public static int DupCloseOnExec(int fd, out int newFd)
    {
        newFd = LibC.fcntl(fd, F_DUPFD_CLOEXEC, 0);
        return newFd == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int Seek(int fd, long offset, int whence, out long position)
    {
        position = LibC.lseek(fd, offset, whence);
        return position == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int Stat(int fd, out ulong device, out ulong inode, out ulong rdev, out uint mode)
    {
        int errno = FStat(fd, out stat st);
        device = st.st_dev;
        inode = st.st_ino;
        rdev = st.st_rdev;
        mode = (uint)st.st_mode;
        return errno;
    }

    /// <summary>The size of what <paramref name="fd"/> refers to (fstat's st_size), without moving its file offset as lseek(SEEK_END) would.</summary>
    public static int FileSize(int fd, out long size)
    {
        int errno = FStat(fd, out stat st);
        size = errno == 0 ? st.st_size : 0;
        return errno;
    }

    private static int FStat(int fd, out stat result)
    {
        stat st;
        int errno = LibC.fstat(fd, &st) == -1 ? Marshal.GetLastPInvokeError() : 0;
        result = st;
        return errno;
    }

    /// <summary>The major number of a device number (glibc's gnu_dev_major: sys/sysmacros.h).</summary>
    public static uint Major(ulong rdev) => (uint)(((rdev >> 32) & 0xfffff000) | ((rdev >> 8) & 0xfff));

    /// <summary>The minor number of a device number (glibc's gnu_dev_minor).</summary>
    public static uint Minor(ulong rdev) => (uint)(((rdev >> 12) & 0xffffff00) | (rdev & 0xff));

    /// <summary>Whether a stat mode is a character device (S_ISCHR).</summary>
    public static bool IsCharacterDevice(uint mode) => (mode & S_IFMT) == S_IFCHR;

    /// <summary>stat(2) of a path, without opening it.</summary>
    public static int StatPath(string path, out ulong rdev, out uint mode)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(path + "\0");
        stat st;
        int r;
        fixed (byte* p = bytes)
        {
            r = LibC.stat(p, &st);
        }

        int errno = r == -1 ? Marshal.GetLastPInvokeError() : 0;
        rdev = errno == 0 ? st.st_rdev : 0;
        mode = errno == 0 ? (uint)st.st_mode : 0;
        return errno;
    }

    /// <summary>fstatfs(2): the filesystem magic of what <paramref name="fd"/> refers to (which the fd's owner cannot fake).</summary>
    public static int FileSystemType(int fd, out long type)
    {
        statfs buffer;
        int r = fstatfs(fd, &buffer);
        int errno = r == -1 ? Marshal.GetLastPInvokeError() : 0;
        type = errno == 0 ? buffer.f_type : 0;
        return errno;
    }

    [LibraryImport(Libraries.Libc, SetLastError = true)]
    private static partial int fstatfs(int fd, statfs* buf);

    /// <summary>realpath(3): the canonical path, every symlink resolved; null when it does not resolve.</summary>
    public static string? RealPath(string path)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(path + "\0");
        byte* resolved = stackalloc byte[4096]; // PATH_MAX
        fixed (byte* p = bytes)
        {
            return realpath(p, resolved) == null ? null : Marshal.PtrToStringUTF8((IntPtr)resolved);
        }
    }

    [LibraryImport(Libraries.Libc, SetLastError = true)]
    private static partial byte* realpath(byte* path, byte* resolved);

    /// <summary>fcntl(F_GETFL): the open file's status flags and access mode (O_PATH shows here).</summary>
    public static int GetStatusFlags(int fd, out int flags)
    {
        flags = LibC.fcntl(fd, F_GETFL);
        return flags == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>True when <paramref name="fd"/> was opened O_PATH: it names a file but allows no I/O, ioctl or mmap on it.</summary>
    public static bool IsPathOnly(int fd) => GetStatusFlags(fd, out int flags) == 0 && (flags & O_PATH) != 0;

    public static int SetNonBlocking(int fd, bool nonBlocking)
    {
        int errno = GetStatusFlags(fd, out int flags);
        if (errno != 0)
        {
            return errno;
        }

        flags = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        return LibC.fcntl(fd, F_SETFL, flags) == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>poll(2) for <paramref name="events"/> on <paramref name="fd"/>, no timeout; retried on EINTR and EAGAIN. Returns 0 (ready) or errno.</summary>
    public static int Poll(int fd, short events)
    {
        var pfd = new pollfd { fd = fd, events = events };
        while (true)
        {
            int r = poll(&pfd, 1u, -1);
            if (r >= 0)
            {
                return 0;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR && errno != Errno.EAGAIN) // EAGAIN: poll(2)'s "try again"
            {
                return errno;
            }
        }
    }

    /// <summary>poll(2) on one fd with a zero timeout: 0 or the errno, with the events ready right now in <paramref name="revents"/>.</summary>
    public static int PollNow(int fd, short events, out int revents)
    {
        var p = new pollfd { fd = fd, events = events };
        int n = poll(&p, 1u, 0);
        revents = n > 0 ? p.revents : 0;
        return n == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    // Tmds.LibC declares poll without SetLastError, so errno read after it was stale (a signal storm made a
    // blocked receive fail with the previous call's EAGAIN instead of retrying its EINTR): every poll goes through this one.
    [LibraryImport(Libraries.Libc, SetLastError = true)]
    internal static partial int poll(pollfd* fds, nuint nfds, int timeout);

    public static int Mmap(int fd, nuint length, int prot, long offset, out IntPtr address)
    {
        void* p = LibC.mmap(null, (size_t)(ulong)length, prot, MAP_SHARED, fd, offset);
        address = (IntPtr)p;
        return p == LibC.MAP_FAILED ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>The bytes of a range <see cref="Mmap"/> mapped (at most int.MaxValue): valid until it is unmapped.</summary>
    public static Span<byte> Mapped(IntPtr address, int length) => new((void*)address, length);

    public static int Munmap(IntPtr address, nuint length) =>
        LibC.munmap((void*)address, (size_t)(ulong)length) == -1 ? Marshal.GetLastPInvokeError() : 0;

    /// <summary>readlink(2) of a /proc path; null when it cannot be read.</summary>
    public static string? ReadLink(string path)
    {
        byte[] pathBytes = Encoding.UTF8.GetBytes(path + "\0");
        byte* buffer = stackalloc byte[4096];
        fixed (byte* p = pathBytes)
        {
            long n = LibC.readlink(p, buffer, 4096);
            return n < 0 ? null : Encoding.UTF8.GetString(buffer, (int)n);
        }
    }

    // close(2) is on every export's and import's path, so like ioctl (Ioctl.Sys) it is bound directly, with no
    // SetLastError stub; errno is read only when it returns -1.
    [LibraryImport(Libraries.Libc, EntryPoint = "close")]
    private static partial int SysClose(int fd);
}
