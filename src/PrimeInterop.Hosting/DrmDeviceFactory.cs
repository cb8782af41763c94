using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace PrimeInterop.Hosting;

internal sealed partial class DrmDeviceFactory(IOptionsMonitor<PrimeInteropOptions> options, PrimeInteropSections sections, ILogger<DrmDeviceFactory> logger) : IDrmDeviceFactory
{
    public IReadOnlyList<DrmNode> EnumerateNodes()
    {
        var nodes = DrmNode.Enumerate();
        LogEnumerated(nodes.Count);
        return nodes;
    }

    public DrmDevice Open() => Open(Options.DefaultName);

    public DrmDevice Open(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var o = options.Get(name); // validated: an OptionsValidationException names the section
        string section = sections.Describe(name);
        return string.IsNullOrEmpty(o.DevicePath) ? Opened(DrmDevice.OpenByDriver(o.Driver, o.NodeType), section) : Opened(DrmDevice.Open(o.DevicePath), section);
    }

    public DrmDevice Open(string? driver, DrmNodeType nodeType) => Opened(DrmDevice.OpenByDriver(driver, nodeType), section: null);

    private DrmDevice Opened(DrmDevice device, string? section)
    {
        try
        {
            LogOpened(device.Path, device.Version, device.NodeType, section ?? "(not configured)");
            return device;
        }
        catch
        {
            device.Dispose(); // reading the version (or logging it) failed: the caller never gets the device
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Found {Count} DRM node(s)")]
    private partial void LogEnumerated(int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Opened {Path} ({Driver}, {NodeType} node) for {Section}")]
    private partial void LogOpened(string path, DrmVersion driver, DrmNodeType nodeType, string section);
}
