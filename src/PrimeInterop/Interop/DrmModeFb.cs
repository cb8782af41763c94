using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>Framebuffer ioctls (include/uapi/drm/drm_mode.h): ADDFB2, RMFB.</summary>
internal static unsafe class DrmModeFb
{
    public const uint DRM_MODE_FB_MODIFIERS = 1 << 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_fb_cmd2
    {
        public uint fb_id;
        public uint width;
        public uint height;
        public uint pixel_format;
        public uint flags;
        public fixed uint handles[4];
        public fixed uint pitches[4];
        public fixed uint offsets[4];
        public fixed ulong modifier[4];
    }

    public static readonly uint DRM_IOCTL_MODE_RMFB = Ioctl.IOWR(Drm.Base, 0xAF, sizeof(uint));
    public static readonly uint DRM_IOCTL_MODE_ADDFB2 = Ioctl.IOWR(Drm.Base, 0xB8, sizeof(drm_mode_fb_cmd2));

    public static int AddFB2(int fd, ref drm_mode_fb_cmd2 arg)
    {
        fixed (drm_mode_fb_cmd2* p = &arg)
        {
            return Ioctl.Invoke(fd, DRM_IOCTL_MODE_ADDFB2, p);
        }
    }

    public static int RmFB(int fd, uint fbId) => Ioctl.Invoke(fd, DRM_IOCTL_MODE_RMFB, &fbId);
}
