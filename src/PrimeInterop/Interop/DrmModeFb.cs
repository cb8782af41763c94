using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>Framebuffer ioctls (include/uapi/drm/drm_mode.h): ADDFB2, RMFB.</summary>
internal static unsafe class DrmModeFb
{
    /// <summary>Planes per framebuffer: the length of drm_mode_fb_cmd2's arrays.</summary>
    public const int MaxPlanes = 4;

    public const uint DRM_MODE_FB_MODIFIERS = 1 << 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_fb_cmd2
    {
        public uint fb_id;
        public uint width;
        public uint height;
        public uint pixel_format;
        public uint flags;
        public fixed uint handles[MaxPlanes];
        public fixed uint pitches[MaxPlanes];
        public fixed uint offsets[MaxPlanes];
        public fixed ulong modifier[MaxPlanes];
    }

    public static readonly uint DRM_IOCTL_MODE_RMFB = Ioctl.IOWR(Drm.Base, 0xAF, sizeof(uint));
    public static readonly uint DRM_IOCTL_MODE_ADDFB2 = Ioctl.IOWR(Drm.Base, 0xB8, sizeof(drm_mode_fb_cmd2));

    /// <summary>ADDFB2 with one entry per plane (1 to 4) in each span. Returns 0 or errno.</summary>
    public static int AddFB2(int fd, uint width, uint height, uint pixelFormat, uint flags, ReadOnlySpan<uint> handles,
        ReadOnlySpan<uint> pitches, ReadOnlySpan<uint> offsets, ReadOnlySpan<ulong> modifiers, out uint fbId)
    {
        var arg = new drm_mode_fb_cmd2 { width = width, height = height, pixel_format = pixelFormat, flags = flags };
        int planes = Math.Min(handles.Length, MaxPlanes);
        for (int i = 0; i < planes; i++)
        {
            arg.handles[i] = handles[i];
            arg.pitches[i] = pitches[i];
            arg.offsets[i] = offsets[i];
            arg.modifier[i] = modifiers[i];
        }

        int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_ADDFB2, &arg);
        fbId = errno == 0 ? arg.fb_id : 0;
        return errno;
    }

    public static int RmFB(int fd, uint fbId) => Ioctl.Invoke(fd, DRM_IOCTL_MODE_RMFB, &fbId);
}
