using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace PrimeInterop.Hosting;

internal sealed partial class DrmDeviceFactory(IOptions<PrimeInteropOptions> options, ILogger<DrmDeviceFactory> logger) : IDrmDeviceFactory
{
    public IReadOnlyList<DrmNode> EnumerateNodes()
    {
        var nodes = DrmNode.Enumerate();
        LogEnumerated(nodes.Count);
        return nodes;
    }

    public DrmDevice Open()
    {
        var o = options.Value;
        return string.IsNullOrEmpty(o.DevicePath) ? Open(o.Driver, o.NodeType) : Opened(DrmDevice.Open(o.DevicePath));
    }

    public DrmDevice Open(string? driver, DrmNodeType nodeType) => Opened(DrmDevice.OpenByDriver(driver, nodeType));

    private DrmDevice Opened(DrmDevice device)
    {
        try
        {
            LogOpened(device.Path, device.Version, device.NodeType);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Opened {Path} ({Driver}, {NodeType} node)")]
    private partial void LogOpened(string path, DrmVersion driver, DrmNodeType nodeType);
}
