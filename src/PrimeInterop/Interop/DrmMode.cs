using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// KMS resource ioctls (include/uapi/drm/drm_mode.h): GETRESOURCES, GETCRTC, GETENCODER, GETCONNECTOR,
/// GETPLANERESOURCES, GETPLANE. Arrays come back in libdrm's two steps: ask for the counts, then pass arrays that
/// large; should a count have grown in between (a hotplugged connector), ask again.
/// </summary>
internal static unsafe class DrmMode
{
    public const int DRM_DISPLAY_MODE_LEN = 32;

    public const uint DRM_MODE_OBJECT_CRTC = 0xcccccccc, DRM_MODE_OBJECT_CONNECTOR = 0xc0c0c0c0, DRM_MODE_OBJECT_ENCODER = 0xe0e0e0e0,
        DRM_MODE_OBJECT_MODE = 0xdededede, DRM_MODE_OBJECT_PROPERTY = 0xb0b0b0b0, DRM_MODE_OBJECT_FB = 0xfbfbfbfb,
        DRM_MODE_OBJECT_BLOB = 0xbbbbbbbb, DRM_MODE_OBJECT_PLANE = 0xeeeeeeee, DRM_MODE_OBJECT_ANY = 0;

    public const uint DRM_MODE_TYPE_PREFERRED = 1 << 3;

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_modeinfo
    {
        public uint clock;
        public ushort hdisplay;
        public ushort hsync_start;
        public ushort hsync_end;
        public ushort htotal;
        public ushort hskew;
        public ushort vdisplay;
        public ushort vsync_start;
        public ushort vsync_end;
        public ushort vtotal;
        public ushort vscan;
        public uint vrefresh;
        public uint flags;
        public uint type;
        public fixed byte name[DRM_DISPLAY_MODE_LEN];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_card_res
    {
        public ulong fb_id_ptr;
        public ulong crtc_id_ptr;
        public ulong connector_id_ptr;
        public ulong encoder_id_ptr;
        public uint count_fbs;
        public uint count_crtcs;
        public uint count_connectors;
        public uint count_encoders;
        public uint min_width;
        public uint max_width;
        public uint min_height;
        public uint max_height;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_crtc
    {
        public ulong set_connectors_ptr;
        public uint count_connectors;
        public uint crtc_id;
        public uint fb_id;
        public uint x;
        public uint y;
        public uint gamma_size;
        public uint mode_valid;
        public drm_mode_modeinfo mode;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_get_encoder
    {
        public uint encoder_id;
        public uint encoder_type;
        public uint crtc_id;
        public uint possible_crtcs;
        public uint possible_clones;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_get_connector
    {
        public ulong encoders_ptr;
        public ulong modes_ptr;
        public ulong props_ptr;
        public ulong prop_values_ptr;
        public uint count_modes;
        public uint count_props;
        public uint count_encoders;
        public uint encoder_id;
        public uint connector_id;
        public uint connector_type;
        public uint connector_type_id;
        public uint connection;
        public uint mm_width;
        public uint mm_height;
        public uint subpixel;
        public uint pad;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_get_plane_res
    {
        public ulong plane_id_ptr;
        public uint count_planes;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_get_plane
    {
        public uint plane_id;
        public uint crtc_id;
        public uint fb_id;
        public uint possible_crtcs;
        public uint gamma_size;
        public uint count_format_types;
        public ulong format_type_ptr;
    }

    public static readonly uint DRM_IOCTL_MODE_GETRESOURCES = Ioctl.IOWR(Drm.Base, 0xA0, sizeof(drm_mode_card_res));
    public static readonly uint DRM_IOCTL_MODE_GETCRTC = Ioctl.IOWR(Drm.Base, 0xA1, sizeof(drm_mode_crtc));
    public static readonly uint DRM_IOCTL_MODE_GETENCODER = Ioctl.IOWR(Drm.Base, 0xA6, sizeof(drm_mode_get_encoder));
    public static readonly uint DRM_IOCTL_MODE_GETCONNECTOR = Ioctl.IOWR(Drm.Base, 0xA7, sizeof(drm_mode_get_connector));
    public static readonly uint DRM_IOCTL_MODE_GETPLANERESOURCES = Ioctl.IOWR(Drm.Base, 0xB5, sizeof(drm_mode_get_plane_res));
    public static readonly uint DRM_IOCTL_MODE_GETPLANE = Ioctl.IOWR(Drm.Base, 0xB6, sizeof(drm_mode_get_plane));

    /// <summary>GETRESOURCES: the ids of this file's framebuffers and of the device's CRTCs, connectors and encoders.</summary>
    public static int GetResources(int fd, out drm_mode_card_res res, out uint[] fbs, out uint[] crtcs, out uint[] connectors, out uint[] encoders)
    {
        fbs = crtcs = connectors = encoders = [];
        while (true)
        {
            var counts = default(drm_mode_card_res);
            int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETRESOURCES, &counts);
            res = counts;
            if (errno != 0)
            {
                return errno;
            }

            fbs = new uint[counts.count_fbs];
            crtcs = new uint[counts.count_crtcs];
            connectors = new uint[counts.count_connectors];
            encoders = new uint[counts.count_encoders];
            fixed (uint* pf = fbs, pc = crtcs, pn = connectors, pe = encoders)
            {
                res = counts;
                res.fb_id_ptr = (ulong)pf;
                res.crtc_id_ptr = (ulong)pc;
                res.connector_id_ptr = (ulong)pn;
                res.encoder_id_ptr = (ulong)pe;
                fixed (drm_mode_card_res* p = &res)
                {
                    errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETRESOURCES, p);
                }
            }

            if (errno != 0)
            {
                return errno;
            }

            if (res.count_fbs <= fbs.Length && res.count_crtcs <= crtcs.Length && res.count_connectors <= connectors.Length && res.count_encoders <= encoders.Length)
            {
                fbs = fbs[..(int)res.count_fbs];
                crtcs = crtcs[..(int)res.count_crtcs];
                connectors = connectors[..(int)res.count_connectors];
                encoders = encoders[..(int)res.count_encoders];
                return 0;
            }
        }
    }

    /// <summary>A mode's name (NUL-padded in the struct).</summary>
    public static string NameOf(drm_mode_modeinfo mode) => DrmModeProperty.Text(mode.name, DRM_DISPLAY_MODE_LEN);

    public static int GetCrtc(int fd, uint crtcId, out drm_mode_crtc crtc)
    {
        var arg = new drm_mode_crtc { crtc_id = crtcId };
        int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETCRTC, &arg);
        crtc = arg;
        return errno;
    }

    public static int GetEncoder(int fd, uint encoderId, out drm_mode_get_encoder encoder)
    {
        var arg = new drm_mode_get_encoder { encoder_id = encoderId };
        int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETENCODER, &arg);
        encoder = arg;
        return errno;
    }

    /// <summary>
    /// GETCONNECTOR, probing the connector first (a first call with no room for modes makes a master file's kernel
    /// probe it, as libdrm's drmModeGetConnector). Properties are not fetched here: OBJ_GETPROPERTIES does that.
    /// The kernel copies modes and encoders only when the room given holds all of them.
    /// </summary>
    public static int GetConnector(int fd, uint connectorId, out drm_mode_get_connector connector, out drm_mode_modeinfo[] modes, out uint[] encoders)
    {
        modes = [];
        encoders = [];
        while (true)
        {
            var counts = new drm_mode_get_connector { connector_id = connectorId };
            int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETCONNECTOR, &counts);
            connector = counts;
            if (errno != 0)
            {
                return errno;
            }

            modes = new drm_mode_modeinfo[counts.count_modes];
            encoders = new uint[counts.count_encoders];
            fixed (drm_mode_modeinfo* pm = modes)
            fixed (uint* pe = encoders)
            {
                var arg = new drm_mode_get_connector
                {
                    connector_id = connectorId,
                    count_modes = counts.count_modes,
                    modes_ptr = (ulong)pm,
                    count_encoders = counts.count_encoders,
                    encoders_ptr = (ulong)pe,
                };
                errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETCONNECTOR, &arg);
                connector = arg;
            }

            if (errno != 0)
            {
                return errno;
            }

            // A count of 0 passed again probed again and may now report modes: only equal counts are complete.
            if (connector.count_modes == modes.Length && connector.count_encoders == encoders.Length)
            {
                return 0;
            }
        }
    }

    public static int GetPlaneResources(int fd, out uint[] planes)
    {
        planes = [];
        while (true)
        {
            var counts = default(drm_mode_get_plane_res);
            int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPLANERESOURCES, &counts);
            if (errno != 0)
            {
                return errno;
            }

            planes = new uint[counts.count_planes];
            fixed (uint* p = planes)
            {
                counts.plane_id_ptr = (ulong)p;
                errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPLANERESOURCES, &counts);
            }

            if (errno != 0)
            {
                return errno;
            }

            if (counts.count_planes <= planes.Length)
            {
                planes = planes[..(int)counts.count_planes];
                return 0;
            }
        }
    }

    public static int GetPlane(int fd, uint planeId, out drm_mode_get_plane plane, out uint[] formats)
    {
        formats = [];
        while (true)
        {
            var counts = new drm_mode_get_plane { plane_id = planeId };
            int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPLANE, &counts);
            plane = counts;
            if (errno != 0)
            {
                return errno;
            }

            formats = new uint[counts.count_format_types];
            fixed (uint* p = formats)
            {
                var arg = new drm_mode_get_plane { plane_id = planeId, count_format_types = counts.count_format_types, format_type_ptr = (ulong)p };
                errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPLANE, &arg);
                plane = arg;
            }

            if (errno != 0)
            {
                return errno;
            }

            if (plane.count_format_types == formats.Length)
            {
                return 0;
            }
        }
    }
}
