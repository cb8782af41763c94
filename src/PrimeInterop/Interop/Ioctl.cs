using System.Runtime.InteropServices;
using Tmds.Linux;

namespace PrimeInterop.Interop;

/// <summary>The Linux <c>_IOC</c> encoding (include/uapi/asm-generic/ioctl.h) and the one ioctl entry point.</summary>
internal static unsafe class Ioctl
{
    private const uint Write = 1, Read = 2;

    private static uint Encode(uint dir, char type, uint nr, int size) =>
        (dir << 30) | ((uint)size << 16) | ((uint)type << 8) | nr;

    public static uint IOW(char type, uint nr, int size) => Encode(Write, type, nr, size);
    public static uint IOWR(char type, uint nr, int size) => Encode(Read | Write, type, nr, size);

    /// <summary>
    /// ioctl(2), retried on EINTR and EAGAIN exactly like libdrm's <c>drmIoctl</c>. Returns 0 or the errno,
    /// read straight after the failing call.
    /// </summary>
    public static int Invoke(int fd, uint request, void* arg)
    {
        while (true)
        {
            int r = LibC.ioctl(fd, unchecked((int)request), arg);
            if (r != -1)
            {
                return 0;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR && errno != Errno.EAGAIN)
            {
                return errno;
            }
        }
    }

    /// <summary>
    /// For the ioctls that return a new fd as their result (UDMABUF_CREATE): retried on EINTR only, since a
    /// creating call is not idempotent for every EAGAIN. Returns 0 or the errno.
    /// </summary>
    public static int InvokeForResult(int fd, uint request, void* arg, out int result)
    {
        while (true)
        {
            result = LibC.ioctl(fd, unchecked((int)request), arg);
            if (result != -1)
            {
                return 0;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }
    }
}
