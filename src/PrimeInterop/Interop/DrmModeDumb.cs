using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>Dumb buffer ioctls (include/uapi/drm/drm_mode.h): CREATE_DUMB, MAP_DUMB, DESTROY_DUMB.</summary>
internal static unsafe class DrmModeDumb
{
    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_create_dumb
    {
        public uint height;
        public uint width;
        public uint bpp;
        public uint flags;
        public uint handle;
        public uint pitch;
        public ulong size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_map_dumb
    {
        public uint handle;
        public uint pad;
        public ulong offset;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_destroy_dumb
    {
        public uint handle;
    }

    public static readonly uint DRM_IOCTL_MODE_CREATE_DUMB = Ioctl.IOWR(Drm.Base, 0xB2, sizeof(drm_mode_create_dumb));
    public static readonly uint DRM_IOCTL_MODE_MAP_DUMB = Ioctl.IOWR(Drm.Base, 0xB3, sizeof(drm_mode_map_dumb));
    public static readonly uint DRM_IOCTL_MODE_DESTROY_DUMB = Ioctl.IOWR(Drm.Base, 0xB4, sizeof(drm_mode_destroy_dumb));

    public static int Create(int fd, ref drm_mode_create_dumb arg)
    {
        fixed (drm_mode_create_dumb* p = &arg)
        {
            return Ioctl.Invoke(fd, DRM_IOCTL_MODE_CREATE_DUMB, p);
        }
    }

    public static int Map(int fd, uint handle, out ulong offset)
    {
        var arg = new drm_mode_map_dumb { handle = handle };
        int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_MAP_DUMB, &arg);
        offset = arg.offset;
        return errno;
    }

    public static int Destroy(int fd, uint handle)
    {
        var arg = new drm_mode_destroy_dumb { handle = handle };
        return Ioctl.Invoke(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &arg);
    }
}
