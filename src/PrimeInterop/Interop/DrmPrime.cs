using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>PRIME ioctls (include/uapi/drm/drm.h): GEM handle ⇄ dma-buf fd.</summary>
internal static unsafe class DrmPrime
{
    [StructLayout(LayoutKind.Sequential)]
    public struct drm_prime_handle
    {
        public uint handle;
        public uint flags;
        public int fd;
    }

    public const uint DRM_CLOEXEC = 0x80000; // O_CLOEXEC
    public const uint DRM_RDWR = 0x2;        // O_RDWR

    public static readonly uint DRM_IOCTL_PRIME_HANDLE_TO_FD = Ioctl.IOWR(Drm.Base, 0x2d, sizeof(drm_prime_handle));
    public static readonly uint DRM_IOCTL_PRIME_FD_TO_HANDLE = Ioctl.IOWR(Drm.Base, 0x2e, sizeof(drm_prime_handle));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int HandleToFd(int device, uint handle, uint flags, out int fd)
    {
        var arg = new drm_prime_handle { handle = handle, flags = flags, fd = -1 };
        int errno = Ioctl.Invoke(device, DRM_IOCTL_PRIME_HANDLE_TO_FD, &arg);
        fd = errno == 0 ? arg.fd : -1;
        return errno;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int FdToHandle(int device, int fd, out uint handle)
    {
        var arg = new drm_prime_handle { fd = fd };
        int errno = Ioctl.Invoke(device, DRM_IOCTL_PRIME_FD_TO_HANDLE, &arg);
        handle = errno == 0 ? arg.handle : 0;
        return errno;
    }
}
