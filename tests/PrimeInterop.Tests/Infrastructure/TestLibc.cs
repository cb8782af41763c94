using System.Runtime.InteropServices;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>libc calls only the tests make: whether an fd is close-on-exec, and a fresh eventfd.</summary>
internal static partial class TestLibc
{
    private const int F_GETFD = 1, FD_CLOEXEC = 1, EFD_CLOEXEC = 0x80000;

    /// <summary>fcntl(F_GETFD): 0 or the errno (EBADF for an fd that is not open).</summary>
    public static int IsCloseOnExec(int fd, out bool cloexec)
    {
        int flags = Fcntl(fd, F_GETFD);
        cloexec = flags != -1 && (flags & FD_CLOEXEC) != 0;
        return flags == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>eventfd(0, EFD_CLOEXEC): 0 or the errno.</summary>
    public static int EventFd(out int fd)
    {
        fd = Eventfd(0, EFD_CLOEXEC);
        return fd == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int Eventfd(uint initial, int flags);
}
