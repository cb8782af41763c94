using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// KMS property ioctls (include/uapi/drm/drm_mode.h): OBJ_GETPROPERTIES, GETPROPERTY, and the property blobs
/// (CREATEPROPBLOB, DESTROYPROPBLOB, GETPROPBLOB); the IN_FORMATS blob's layout.
/// </summary>
internal static unsafe class DrmModeProperty
{
    public const int DRM_PROP_NAME_LEN = 32;

    public const uint DRM_MODE_PROP_PENDING = 1 << 0, DRM_MODE_PROP_RANGE = 1 << 1, DRM_MODE_PROP_IMMUTABLE = 1 << 2,
        DRM_MODE_PROP_ENUM = 1 << 3, DRM_MODE_PROP_BLOB = 1 << 4, DRM_MODE_PROP_BITMASK = 1 << 5,
        DRM_MODE_PROP_EXTENDED_TYPE = 0x0000ffc0, DRM_MODE_PROP_OBJECT = 1 << 6, DRM_MODE_PROP_SIGNED_RANGE = 2 << 6,
        DRM_MODE_PROP_ATOMIC = 0x80000000;

    public const uint FORMAT_BLOB_CURRENT = 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_obj_get_properties
    {
        public ulong props_ptr;
        public ulong prop_values_ptr;
        public uint count_props;
        public uint obj_id;
        public uint obj_type;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_get_property
    {
        public ulong values_ptr;
        public ulong enum_blob_ptr;
        public uint prop_id;
        public uint flags;
        public fixed byte name[DRM_PROP_NAME_LEN];
        public uint count_values;
        public uint count_enum_blobs;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_property_enum
    {
        public ulong value;
        public fixed byte name[DRM_PROP_NAME_LEN];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_create_blob
    {
        public ulong data;
        public uint length;
        public uint blob_id;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_destroy_blob
    {
        public uint blob_id;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_get_blob
    {
        public uint blob_id;
        public uint length;
        public ulong data;
    }

    /// <summary>The header of the IN_FORMATS blob; the formats (u32) and the modifiers follow at the offsets given.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct drm_format_modifier_blob
    {
        public uint version;
        public uint flags;
        public uint count_formats;
        public uint formats_offset;
        public uint count_modifiers;
        public uint modifiers_offset;
    }

    /// <summary>A modifier and the formats it applies to: bit n of <c>formats</c> is format <c>offset + n</c> of the blob's list.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct drm_format_modifier
    {
        public ulong formats;
        public uint offset;
        public uint pad;
        public ulong modifier;
    }

    public static readonly uint DRM_IOCTL_MODE_GETPROPERTY = Ioctl.IOWR(Drm.Base, 0xAA, sizeof(drm_mode_get_property));
    public static readonly uint DRM_IOCTL_MODE_GETPROPBLOB = Ioctl.IOWR(Drm.Base, 0xAC, sizeof(drm_mode_get_blob));
    public static readonly uint DRM_IOCTL_MODE_OBJ_GETPROPERTIES = Ioctl.IOWR(Drm.Base, 0xB9, sizeof(drm_mode_obj_get_properties));
    public static readonly uint DRM_IOCTL_MODE_CREATEPROPBLOB = Ioctl.IOWR(Drm.Base, 0xBD, sizeof(drm_mode_create_blob));
    public static readonly uint DRM_IOCTL_MODE_DESTROYPROPBLOB = Ioctl.IOWR(Drm.Base, 0xBE, sizeof(drm_mode_destroy_blob));

    /// <summary>
    /// OBJ_GETPROPERTIES: the property ids and current values of one object. The kernel fills as many as there is room
    /// for and reports how many there are; atomic-only properties (FB_ID, CRTC_ID, …) are listed only to a file with
    /// the atomic client capability.
    /// </summary>
    public static int GetObjectProperties(int fd, uint objectId, uint objectType, out uint[] ids, out ulong[] values)
    {
        ids = [];
        values = [];
        while (true)
        {
            var arg = new drm_mode_obj_get_properties { obj_id = objectId, obj_type = objectType };
            int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_OBJ_GETPROPERTIES, &arg);
            if (errno != 0)
            {
                return errno;
            }

            ids = new uint[arg.count_props];
            values = new ulong[arg.count_props];
            fixed (uint* pi = ids)
            fixed (ulong* pv = values)
            {
                arg.props_ptr = (ulong)pi;
                arg.prop_values_ptr = (ulong)pv;
                errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_OBJ_GETPROPERTIES, &arg);
            }

            if (errno != 0)
            {
                return errno;
            }

            if (arg.count_props <= ids.Length)
            {
                ids = ids[..(int)arg.count_props];
                values = values[..(int)arg.count_props];
                return 0;
            }
        }
    }

    /// <summary>GETPROPERTY: name, flags, values (a range's bounds, an object property's type) and enum entries.</summary>
    public static int GetProperty(int fd, uint propertyId, out string name, out uint flags, out ulong[] values, out (ulong Value, string Name)[] enums)
    {
        name = "";
        flags = 0;
        values = [];
        enums = [];
        var counts = new drm_mode_get_property { prop_id = propertyId };
        int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPROPERTY, &counts);
        if (errno != 0)
        {
            return errno;
        }

        // A property's values and enum entries are fixed when the driver creates it, so the counts cannot grow.
        values = new ulong[counts.count_values];
        var raw = new drm_mode_property_enum[counts.count_enum_blobs];
        var arg = new drm_mode_get_property { prop_id = propertyId, count_values = counts.count_values, count_enum_blobs = counts.count_enum_blobs };
        fixed (ulong* pv = values)
        fixed (drm_mode_property_enum* pe = raw)
        {
            arg.values_ptr = (ulong)pv;
            arg.enum_blob_ptr = (ulong)pe;
            errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPROPERTY, &arg);
        }

        if (errno != 0)
        {
            return errno;
        }

        name = Text(arg.name, DRM_PROP_NAME_LEN);
        flags = arg.flags;
        values = values[..(int)Math.Min(arg.count_values, (uint)values.Length)];
        enums = new (ulong, string)[Math.Min(arg.count_enum_blobs, (uint)raw.Length)];
        for (int i = 0; i < enums.Length; i++)
        {
            fixed (drm_mode_property_enum* e = &raw[i])
            {
                enums[i] = (e->value, Text(e->name, DRM_PROP_NAME_LEN));
            }
        }

        return 0;
    }

    public static int CreateBlob(int fd, ReadOnlySpan<byte> data, out uint blobId)
    {
        fixed (byte* p = data)
        {
            var arg = new drm_mode_create_blob { data = (ulong)p, length = (uint)data.Length };
            int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_CREATEPROPBLOB, &arg);
            blobId = errno == 0 ? arg.blob_id : 0;
            return errno;
        }
    }

    public static int DestroyBlob(int fd, uint blobId)
    {
        var arg = new drm_mode_destroy_blob { blob_id = blobId };
        return Ioctl.Invoke(fd, DRM_IOCTL_MODE_DESTROYPROPBLOB, &arg);
    }

    /// <summary>GETPROPBLOB: the kernel copies the data only when the length given is the blob's, so ask it first.</summary>
    public static int GetBlob(int fd, uint blobId, out byte[] data)
    {
        data = [];
        while (true)
        {
            var arg = new drm_mode_get_blob { blob_id = blobId };
            int errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPROPBLOB, &arg);
            if (errno != 0)
            {
                return errno;
            }

            data = new byte[arg.length];
            uint length = arg.length;
            fixed (byte* p = data)
            {
                arg.data = (ulong)p;
                errno = Ioctl.Invoke(fd, DRM_IOCTL_MODE_GETPROPBLOB, &arg);
            }

            // Blobs never change; a different length means the id was freed and reused in between: ask again.
            if (errno != 0 || arg.length == length)
            {
                return errno;
            }
        }
    }

    /// <summary>A NUL-padded kernel name (property, enum entry, mode) as a string.</summary>
    public static string Text(byte* chars, int length)
    {
        var span = new ReadOnlySpan<byte>(chars, length);
        int nul = span.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(nul < 0 ? span : span[..nul]);
    }
}
