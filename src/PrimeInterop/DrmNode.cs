using System.Globalization;
using System.Text.RegularExpressions;

namespace PrimeInterop;

/// <summary>
/// A DRM device node found in sysfs (<c>/sys/class/drm</c>). The node is probed once (opened, then
/// <c>DRM_IOCTL_VERSION</c> and <c>DRM_CAP_PRIME</c> read, then closed); nodes that cannot be opened are listed with
/// <see cref="ProbeError"/> set. Virtual drivers such as vgem and vkms have no PCI parent, so nothing here needs one.
/// </summary>
public sealed partial record DrmNode
{
    /// <summary>The device file, such as <c>/dev/dri/renderD128</c>.</summary>
    public required string Path { get; init; }

    /// <summary>Primary or render.</summary>
    public required DrmNodeType Type { get; init; }

    /// <summary>The sysfs device the node belongs to (nodes of one device share it), or the node path when unknown.</summary>
    public required string DeviceKey { get; init; }

    /// <summary>The driver's version information; null when the node could not be opened.</summary>
    public DrmVersion? Version { get; init; }

    /// <summary>The driver name (from <see cref="Version"/>), or null.</summary>
    public string? DriverName => Version?.Name;

    /// <summary>PRIME import/export support.</summary>
    public PrimeCapabilities PrimeCapabilities { get; init; }

    /// <summary>Why probing failed (for example a permission error), or null.</summary>
    public string? ProbeError { get; init; }

    /// <summary>Lists DRM nodes from sysfs, primary nodes first, each sorted by minor number.</summary>
    /// <param name="sysfsRoot">The class directory to read; a test or a chroot may point elsewhere.</param>
    public static IReadOnlyList<DrmNode> Enumerate(string sysfsRoot = "/sys/class/drm")
    {
        var nodes = new List<(DrmNodeType Type, int Minor, string Name)>();
        IEnumerable<string> names = Directory.Exists(sysfsRoot)
            ? Directory.EnumerateFileSystemEntries(sysfsRoot).Select(System.IO.Path.GetFileName).OfType<string>()
            : Directory.Exists("/dev/dri") ? Directory.EnumerateFileSystemEntries("/dev/dri").Select(System.IO.Path.GetFileName).OfType<string>() : [];
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
            string path = "/dev/dri/" + name;
            if (!File.Exists(path))
            {
                continue;
            }

            string deviceKey = ResolveDevice(System.IO.Path.Combine(sysfsRoot, name, "device")) ?? path;
            result.Add(Probe(path, type, deviceKey));
        }

        return result;
    }

    private static DrmNode Probe(string path, DrmNodeType type, string deviceKey)
    {
        try
        {
            using var device = DrmDevice.Open(path);
            return new DrmNode
            {
                Path = path,
                Type = device.NodeType,
                DeviceKey = deviceKey,
                Version = device.Version,
                PrimeCapabilities = device.PrimeCapabilities,
            };
        }
        catch (Exception e) when (e is DrmException or ArgumentException or UnauthorizedAccessException)
        {
            return new DrmNode { Path = path, Type = type, DeviceKey = deviceKey, ProbeError = e.Message };
        }
    }

    private static string? ResolveDevice(string link)
    {
        try
        {
            return new DirectoryInfo(link).ResolveLinkTarget(returnFinalTarget: true)?.FullName;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^(card|renderD)(\d+)$", RegexOptions.CultureInvariant)]
    private static partial Regex NodeName();
}
