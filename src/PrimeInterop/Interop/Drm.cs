using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>Core DRM ioctls (include/uapi/drm/drm.h): VERSION, GET_CAP, GEM_CLOSE, SET_CLIENT_CAP, the master ioctls, and the events read from the fd.</summary>
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

    public const ulong DRM_CLIENT_CAP_STEREO_3D = 1, DRM_CLIENT_CAP_UNIVERSAL_PLANES = 2, DRM_CLIENT_CAP_ATOMIC = 3,
        DRM_CLIENT_CAP_ASPECT_RATIO = 4, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS = 5;

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_set_client_cap
    {
        public ulong capability;
        public ulong value;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_auth
    {
        public uint magic;
    }

    public const uint DRM_EVENT_VBLANK = 0x01, DRM_EVENT_FLIP_COMPLETE = 0x02, DRM_EVENT_CRTC_SEQUENCE = 0x03;

    /// <summary>The header of every event read from a DRM fd; <c>length</c> counts the header too.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct drm_event
    {
        public uint type;
        public uint length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_event_vblank
    {
        public drm_event @base;
        public ulong user_data;
        public uint tv_sec;
        public uint tv_usec;
        public uint sequence;
        public uint crtc_id;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_event_crtc_sequence
    {
        public drm_event @base;
        public ulong user_data;
        public long time_ns;
        public ulong sequence;
    }

    public static readonly uint DRM_IOCTL_VERSION = Ioctl.IOWR(Base, 0x00, sizeof(drm_version));
    public static readonly uint DRM_IOCTL_GEM_CLOSE = Ioctl.IOW(Base, 0x09, sizeof(drm_gem_close));
    public static readonly uint DRM_IOCTL_GET_CAP = Ioctl.IOWR(Base, 0x0c, sizeof(drm_get_cap));
    public static readonly uint DRM_IOCTL_SET_CLIENT_CAP = Ioctl.IOW(Base, 0x0d, sizeof(drm_set_client_cap));
    public static readonly uint DRM_IOCTL_AUTH_MAGIC = Ioctl.IOW(Base, 0x11, sizeof(drm_auth));
    public static readonly uint DRM_IOCTL_SET_MASTER = Ioctl.IO(Base, 0x1e);
    public static readonly uint DRM_IOCTL_DROP_MASTER = Ioctl.IO(Base, 0x1f);

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

    public static int SetClientCap(int fd, ulong capability, ulong value)
    {
        var arg = new drm_set_client_cap { capability = capability, value = value };
        return Ioctl.Invoke(fd, DRM_IOCTL_SET_CLIENT_CAP, &arg);
    }

    /// <summary>
    /// AUTH_MAGIC with magic 0, as libdrm's drmIsMaster: the ioctl is master-only, so a file that is not master gets
    /// EACCES before anything else is looked at, and a master gets EINVAL (0 is never a valid magic).
    /// </summary>
    public static int AuthMagicZero(int fd)
    {
        var arg = default(drm_auth);
        return Ioctl.Invoke(fd, DRM_IOCTL_AUTH_MAGIC, &arg);
    }

    public static int SetMaster(int fd) => Ioctl.Invoke(fd, DRM_IOCTL_SET_MASTER, null);

    public static int DropMaster(int fd) => Ioctl.Invoke(fd, DRM_IOCTL_DROP_MASTER, null);

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
