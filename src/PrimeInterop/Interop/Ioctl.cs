using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>The Linux <c>_IOC</c> encoding (include/uapi/asm-generic/ioctl.h) and the one ioctl entry point.</summary>
internal static unsafe partial class Ioctl
{
    private const uint None = 0, Write = 1, Read = 2;

    private static uint Encode(uint dir, char type, uint nr, int size) =>
        (dir << 30) | ((uint)size << 16) | ((uint)type << 8) | nr;

    public static uint IO(char type, uint nr) => Encode(None, type, nr, 0);
    public static uint IOW(char type, uint nr, int size) => Encode(Write, type, nr, size);
    public static uint IOWR(char type, uint nr, int size) => Encode(Read | Write, type, nr, size);

    /// <summary>
    /// ioctl(2), retried on EINTR and EAGAIN exactly like libdrm's <c>drmIoctl</c>. Returns 0 or the errno,
    /// read straight after the failing call and only then.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // on every per-frame path: one call fewer (see DrmDevice)
    public static int Invoke(int fd, uint request, void* arg)
    {
        if (Sys(fd, request, arg) != -1)
        {
            return 0;
        }

        int errno = Marshal.GetLastSystemError();
        return errno is Errno.EINTR or Errno.EAGAIN ? Retry(fd, request, arg) : errno;
    }

    /// <summary>The retries of <see cref="Invoke"/>, out of line: the per-frame callers keep no registers for them.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Retry(int fd, uint request, void* arg)
    {
        while (true)
        {
            if (Sys(fd, request, arg) != -1)
            {
                return 0;
            }

            int errno = Marshal.GetLastSystemError();
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
            result = Sys(fd, request, arg);
            if (result != -1)
            {
                return 0;
            }

            int errno = Marshal.GetLastSystemError();
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }
    }

    // The hot syscall, bound directly rather than through Tmds.LibC: its DllImport has SetLastError=true, a
    // marshalling stub that clears and saves errno around every call, which is a large part of an export's cost.
    // Here nothing is marshalled (blittable ints and a pointer, so the runtime calls libc
    // directly) and errno is read with Marshal.GetLastSystemError only when the call returned -1, which is what the
    // generated SetLastError code does too, one step later. `unsigned long request` is nuint on LP64.
    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl")]
    private static partial int Sys(int fd, nuint request, void* arg);
}
