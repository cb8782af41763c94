using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;

namespace PrimeInterop.Interop;

/// <summary>
/// The plain libc calls the library makes, through Tmds.LibC except close(2) (see <see cref="Close"/>). Each returns
/// 0 or the errno, read immediately after the failing call; callers turn a non-zero errno into an exception with
/// <see cref="ThrowHelper"/>.
/// </summary>
internal static unsafe partial class Libc
{
    public const int O_RDONLY = 0, O_RDWR = 2, O_CLOEXEC = 0x80000, O_NONBLOCK = 0x800;
    public const int F_GETFD = 1, F_DUPFD_CLOEXEC = 1030, FD_CLOEXEC = 1;
    public const int SEEK_SET = 0, SEEK_END = 2;
    public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1;

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

    /// <summary>close(2) exactly once; EINTR is not retried, since Linux has closed the fd by then.</summary>
    public static int Close(int fd) => SysClose(fd) == -1 ? Marshal.GetLastSystemError() : 0;

    public static int DupCloseOnExec(int fd, out int newFd)
    {
        newFd = LibC.fcntl(fd, F_DUPFD_CLOEXEC, 0);
        return newFd == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int IsCloseOnExec(int fd, out bool cloexec)
    {
        int flags = LibC.fcntl(fd, F_GETFD);
        cloexec = flags != -1 && (flags & FD_CLOEXEC) != 0;
        return flags == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int Seek(int fd, long offset, int whence, out long position)
    {
        position = LibC.lseek(fd, offset, whence);
        return position == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int Stat(int fd, out ulong device, out ulong inode, out ulong rdev, out uint mode)
    {
        stat st;
        int r = LibC.fstat(fd, &st);
        int errno = r == -1 ? Marshal.GetLastPInvokeError() : 0;
        device = st.st_dev;
        inode = st.st_ino;
        rdev = st.st_rdev;
        mode = (uint)st.st_mode;
        return errno;
    }

    public static int Mmap(int fd, nuint length, int prot, long offset, out IntPtr address)
    {
        void* p = LibC.mmap(null, (size_t)(ulong)length, prot, MAP_SHARED, fd, offset);
        address = (IntPtr)p;
        return p == LibC.MAP_FAILED ? Marshal.GetLastPInvokeError() : 0;
    }

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
    [LibraryImport("libc.so.6", EntryPoint = "close")]
    private static partial int SysClose(int fd);
}
