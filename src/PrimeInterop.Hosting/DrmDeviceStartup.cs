using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace PrimeInterop.Hosting;

/// <summary>
/// Opens every device registered with AddPrimeInteropDevice while the host starts, before "Application started": a
/// device that is missing, or that the user may not open, stops the start with a message naming its configuration
/// section, instead of surfacing at its first use.
/// </summary>
internal sealed class DrmDeviceStartup(IServiceProvider services, PrimeInteropSections sections) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (string name in sections.Devices)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                _ = name.Length == 0 ? services.GetRequiredService<DrmDevice>() : services.GetRequiredKeyedService<DrmDevice>(name);
            }
            catch (Exception e) when (e is DrmException or ArgumentException) // no such device, no permission, not a DRM node
            {
                var o = services.GetRequiredService<IOptionsMonitor<PrimeInteropOptions>>().Get(name);
                string what = !string.IsNullOrEmpty(o.DevicePath) ? $"DevicePath={o.DevicePath}" : $"Driver={o.Driver ?? "(any)"}, NodeType={o.NodeType}";
                throw new InvalidOperationException($"{sections.Describe(name)}: cannot open the configured DRM device ({what}): {e.Message}", e);
            }
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask; // the container disposes the devices
}
