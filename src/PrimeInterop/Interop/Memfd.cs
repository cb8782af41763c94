using System.Runtime.InteropServices;
using System.Text;
using Tmds.Linux;

namespace PrimeInterop.Interop;

/// <summary>memfd_create(2) and file sealing (include/uapi/linux/memfd.h, fcntl.h): the memory behind a udmabuf.</summary>
internal static unsafe class Memfd
{
    public const uint MFD_CLOEXEC = 0x0001, MFD_ALLOW_SEALING = 0x0002;
    public const int F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
    public const int F_SEAL_SEAL = 0x0001, F_SEAL_SHRINK = 0x0002, F_SEAL_GROW = 0x0004, F_SEAL_WRITE = 0x0008, F_SEAL_FUTURE_WRITE = 0x0010;

    public static int Create(string name, uint flags, out int fd)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* p = bytes)
        {
            fd = LibC.memfd_create(p, flags);
            return fd == -1 ? Marshal.GetLastPInvokeError() : 0;
        }
    }

    public static int Truncate(int fd, long length)
    {
        while (true)
        {
            if (LibC.ftruncate(fd, length) == 0)
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

    public static int AddSeals(int fd, int seals) => LibC.fcntl(fd, F_ADD_SEALS, seals) == -1 ? Marshal.GetLastPInvokeError() : 0;

    /// <summary>The seals on <paramref name="fd"/>; EINVAL when the file does not support sealing (not a memfd or shmem file).</summary>
    public static int GetSeals(int fd, out int seals)
    {
        seals = LibC.fcntl(fd, F_GET_SEALS);
        return seals == -1 ? Marshal.GetLastPInvokeError() : 0;
    }
}
