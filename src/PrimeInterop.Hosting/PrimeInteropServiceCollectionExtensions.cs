using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace PrimeInterop.Hosting;

/// <summary>Registers PrimeInterop with a service collection.</summary>
public static class PrimeInteropServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="IDrmDeviceFactory"/> (singleton) and <see cref="PrimeInteropOptions"/>. Bind the options from
    /// configuration with <c>services.AddOptions&lt;PrimeInteropOptions&gt;().Bind(section)</c> if you like.
    /// </summary>
    public static IServiceCollection AddPrimeInterop(this IServiceCollection services, Action<PrimeInteropOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<PrimeInteropOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        services.TryAddSingleton<IDrmDeviceFactory, DrmDeviceFactory>();
        return services;
    }
}
