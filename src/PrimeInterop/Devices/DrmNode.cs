using System.Globalization;
using System.Text.RegularExpressions;

namespace PrimeInterop;

/// <summary>
/// A DRM device node found in sysfs (<c>/sys/class/drm</c>), the way libdrm's <c>drmGetDevices2</c> finds them:
/// without opening anything. The driver's name comes from the device's <c>driver</c> link (<c>i915</c>,
/// <c>amdgpu</c>, …), or, for virtual devices that have none (vgem, vkms), from the device's own name.
/// <see cref="Probe"/> opens the node to read the driver's version and PRIME capabilities; opening a primary
/// node can make the caller DRM master while no one else is, so do that only for a node you mean to use.
/// </summary>
public sealed partial record DrmNode
{
    /// <summary>The device file, such as <c>/dev/dri/renderD128</c>.</summary>
    public required string Path { get; init; }

    /// <summary>Primary or render.</summary>
    public required DrmNodeType Type { get; init; }

    /// <summary>The sysfs device the node belongs to (nodes of one device share it), or the node path when unknown.</summary>
    public required string DeviceKey { get; init; }

    /// <summary>
    /// The driver's name: from sysfs after <see cref="Enumerate(string)"/>, as <c>DRM_IOCTL_VERSION</c> gives it after
    /// <see cref="Probe"/>; null when neither told.
    /// </summary>
    public string? DriverName { get; init; }

    /// <summary>The driver's version information; null until <see cref="Probe"/>d (or when probing failed).</summary>
    public DrmVersion? Version { get; init; }

    /// <summary>PRIME import/export support; known only after <see cref="Probe"/>.</summary>
    public PrimeCapabilities PrimeCapabilities { get; init; }

    /// <summary>Why probing failed (for example a permission error), or null.</summary>
    public string? ProbeError { get; init; }

    /// <summary>Lists DRM nodes from sysfs, primary nodes first, each sorted by minor number. Opens nothing.</summary>
    /// <param name="sysfsRoot">The class directory to read; a test or a chroot may point elsewhere.</param>
    public static IReadOnlyList<DrmNode> Enumerate(string sysfsRoot = "/sys/class/drm") => Enumerate(sysfsRoot, "/dev/dri");

    internal static IReadOnlyList<DrmNode> Enumerate(string sysfsRoot, string devRoot)
    {
        var nodes = new List<(DrmNodeType Type, int Minor, string Name)>();
        IEnumerable<string> names = Directory.Exists(sysfsRoot)
            ? Directory.EnumerateFileSystemEntries(sysfsRoot).Select(System.IO.Path.GetFileName).OfType<string>()
            : Directory.Exists(devRoot) ? Directory.EnumerateFileSystemEntries(devRoot).Select(System.IO.Path.GetFileName).OfType<string>() : [];
        foreach (string name in names)
        {
            Match m = NodeName().Match(name);
            if (m.Success)
            {
                var type = m.Groups[1].Value == "card" ? DrmNodeType.Primary : DrmNodeType.Render;
                nodes.Add((type, int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), name));
            }
        }

        var result = new List<DrmNode>();
        foreach (var (type, _, name) in nodes.OrderBy(n => n.Type).ThenBy(n => n.Minor))
        {
            string path = System.IO.Path.Combine(devRoot, name);
            if (!File.Exists(path))
            {
                continue;
            }

            string device = System.IO.Path.Combine(sysfsRoot, name, "device");
            result.Add(new DrmNode
            {
                Path = path,
                Type = type,
                DeviceKey = ResolveLink(device) ?? path,
                DriverName = DriverOf(device),
            });
        }

        return result;
    }

    /// <summary>
    /// Opens this node (<see cref="DrmDevice.Open(string)"/>: checked without blocking) and reads the driver's
    /// version and PRIME capabilities. On failure the result has <see cref="ProbeError"/> set.
    /// </summary>
    public DrmNode Probe()
    {
        try
        {
            using var device = DrmDevice.Open(Path);
            return this with
            {
                Type = device.NodeType,
                Version = device.Version,
                DriverName = device.Version.Name,
                PrimeCapabilities = device.PrimeCapabilities,
                ProbeError = null,
            };
        }
        catch (Exception e) when (e is DrmException or ArgumentException) // what Open and the queries throw
        {
            return this with { ProbeError = e.Message };
        }
    }

    /// <summary>The kernel driver bound to the device (its <c>driver</c> link), else the device's own name.</summary>
    private static string? DriverOf(string device)
    {
        string? driver = ResolveLink(System.IO.Path.Combine(device, "driver")) is { } d ? System.IO.Path.GetFileName(d) : null;
        if (driver is null or "faux_driver") // virtual devices: vgem and vkms are named after their driver
        {
            driver = ResolveLink(device) is { } dev ? System.IO.Path.GetFileName(dev) : null;
        }

        return string.IsNullOrEmpty(driver) ? null : driver;
    }

    /// <summary>The link's final target, resolved like the kernel does (relative to the link's real directory).</summary>
    private static string? ResolveLink(string link) => Directory.Exists(link) ? Interop.Libc.RealPath(link) : null;

    [GeneratedRegex(@"^(card|renderD)(\d+)$", RegexOptions.CultureInvariant)]
    private static partial Regex NodeName();
}
