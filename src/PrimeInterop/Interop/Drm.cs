using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>Core DRM ioctls (include/uapi/drm/drm.h): VERSION, GET_CAP, GEM_CLOSE.</summary>
internal static unsafe class Drm
{
    public const char Base = 'd';

    /// <summary>The character-device major of every DRM node (include/drm/drm_drv.h: DRM_MAJOR).</summary>
    public const uint DRM_MAJOR = 226;

    /// <summary>Render node minors start here (primary minors are 0-63, render 128-191: drm_minor_alloc).</summary>
    public const uint RenderMinorBase = 128;

    public const ulong DRM_CAP_PRIME = 0x5;
    public const int DRM_PRIME_CAP_IMPORT = 0x1;
    public const int DRM_PRIME_CAP_EXPORT = 0x2;

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_version
    {
        public int version_major;
        public int version_minor;
        public int version_patchlevel;
        public nuint name_len;
        public byte* name;
        public nuint date_len;
        public byte* date;
        public nuint desc_len;
        public byte* desc;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_get_cap
    {
        public ulong capability;
        public ulong value;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_gem_close
    {
        public uint handle;
        public uint pad;
    }

    public static readonly uint DRM_IOCTL_VERSION = Ioctl.IOWR(Base, 0x00, sizeof(drm_version));
    public static readonly uint DRM_IOCTL_GEM_CLOSE = Ioctl.IOW(Base, 0x09, sizeof(drm_gem_close));
    public static readonly uint DRM_IOCTL_GET_CAP = Ioctl.IOWR(Base, 0x0c, sizeof(drm_get_cap));

    public static int GemClose(int fd, uint handle)
    {
        var arg = new drm_gem_close { handle = handle };
        return Ioctl.Invoke(fd, DRM_IOCTL_GEM_CLOSE, &arg);
    }

    public static int GetCap(int fd, ulong capability, out ulong value)
    {
        var arg = new drm_get_cap { capability = capability };
        int errno = Ioctl.Invoke(fd, DRM_IOCTL_GET_CAP, &arg);
        value = arg.value;
        return errno;
    }

    /// <summary>VERSION in libdrm's two steps: ask for the string lengths, then fetch the strings.</summary>
    public static int GetVersion(int fd, out DrmVersion? version)
    {
        version = null;
        var v = default(drm_version);
        int errno = Ioctl.Invoke(fd, DRM_IOCTL_VERSION, &v);
        if (errno != 0)
        {
            return errno;
        }

        // One extra byte each so a string that grew in between still ends in NUL for us.
        byte[] name = new byte[(int)v.name_len + 1], date = new byte[(int)v.date_len + 1], desc = new byte[(int)v.desc_len + 1];
        fixed (byte* pName = name, pDate = date, pDesc = desc)
        {
            v.name = pName;
            v.date = pDate;
            v.desc = pDesc;
            errno = Ioctl.Invoke(fd, DRM_IOCTL_VERSION, &v);
            if (errno != 0)
            {
                return errno;
            }
        }

        version = new DrmVersion(v.version_major, v.version_minor, v.version_patchlevel,
            Text(name, v.name_len), Text(date, v.date_len), Text(desc, v.desc_len));
        return 0;
    }

    private static string Text(byte[] buffer, nuint length)
    {
        int n = (int)Math.Min((nuint)buffer.Length - 1, length);
        int nul = Array.IndexOf(buffer, (byte)0, 0, n);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, nul < 0 ? n : nul);
    }
}
