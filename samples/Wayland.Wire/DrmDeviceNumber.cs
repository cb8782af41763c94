using System.Buffers.Binary;
using System.Globalization;

namespace Wayland.Wire;

/// <summary>
/// A dev_t as linux-dmabuf v4 sends it (<c>main_device</c>, <c>tranche_target_device</c>: an array holding one
/// dev_t in host byte order), and the DRM node it names, through sysfs (<c>/sys/dev/char/MAJOR:MINOR</c>).
/// </summary>
public readonly record struct DrmDeviceNumber(uint Major, uint Minor)
{
    /// <summary>The device of a node such as /dev/dri/renderD128, from sysfs.</summary>
    public static DrmDeviceNumber? Of(string nodePath)
    {
        string dev = Path.Combine("/sys/class/drm", Path.GetFileName(nodePath), "dev");
        string[] parts = File.Exists(dev) ? File.ReadAllText(dev).Trim().Split(':') : [];
        return parts.Length == 2 && uint.TryParse(parts[0], CultureInfo.InvariantCulture, out uint major) && uint.TryParse(parts[1], CultureInfo.InvariantCulture, out uint minor)
            ? new DrmDeviceNumber(major, minor)
            : null;
    }

    /// <summary>glibc's dev_t encoding (makedev).</summary>
    public ulong DevT => ((ulong)(Major & 0xfffff000) << 32) | ((ulong)(Major & 0xfff) << 8) | ((ulong)(Minor & 0xffffff00) << 12) | (Minor & 0xff);

    /// <summary>Reads a dev_t array argument; anything but 8 bytes is refused.</summary>
    public static DrmDeviceNumber FromWire(ReadOnlySpan<byte> array)
    {
        if (array.Length != sizeof(ulong))
        {
            throw new InvalidDataException($"a dev_t argument of {array.Length} bytes (8 expected)");
        }

        ulong d = BinaryPrimitives.ReadUInt64LittleEndian(array);
        return new DrmDeviceNumber((uint)(((d >> 32) & 0xfffff000) | ((d >> 8) & 0xfff)), (uint)(((d >> 12) & 0xffffff00) | (d & 0xff)));
    }

    /// <summary>The 8 bytes of the wire's dev_t array.</summary>
    public byte[] ToWire()
    {
        byte[] b = new byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(b, DevT);
        return b;
    }

    /// <summary>The node's path (/dev/dri/renderD128), when sysfs knows this device as a DRM node.</summary>
    public string? NodePath()
    {
        string link = $"/sys/dev/char/{Major}:{Minor}";
        string? target = Directory.Exists(link) ? new DirectoryInfo(link).ResolveLinkTarget(returnFinalTarget: true)?.Name : null;
        return target is not null && (target.StartsWith("card", StringComparison.Ordinal) || target.StartsWith("renderD", StringComparison.Ordinal))
            ? Path.Combine("/dev/dri", target)
            : null;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Major}:{Minor}");
}
