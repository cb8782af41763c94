using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PrimeInterop;
using PrimeInterop.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers PrimeInterop with a service collection.</summary>
public static class PrimeInteropServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="IDrmDeviceFactory"/> (singleton) and <see cref="PrimeInteropOptions"/>, validated when the
    /// host starts (<c>ValidateOnStart</c>) and again on first use. Logging is used when registered, else nothing is logged.
    /// </summary>
    public static IServiceCollection AddPrimeInterop(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<PrimeInteropOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PrimeInteropOptions>, PrimeInteropOptionsValidator>());
        services.TryAddSingleton<IDrmDeviceFactory>(sp => new DrmDeviceFactory(
            sp.GetRequiredService<IOptions<PrimeInteropOptions>>(),
            sp.GetService<ILoggerFactory>()?.CreateLogger<DrmDeviceFactory>() ?? NullLogger<DrmDeviceFactory>.Instance));
        return services;
    }

    /// <summary>Adds PrimeInterop (see <see cref="AddPrimeInterop(IServiceCollection)"/>) with its options set by <paramref name="configure"/>.</summary>
    public static IServiceCollection AddPrimeInterop(this IServiceCollection services, Action<PrimeInteropOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddPrimeInterop();
        services.AddOptions<PrimeInteropOptions>().Configure(configure);
        return services;
    }

    /// <summary>
    /// Adds PrimeInterop with its options bound from <paramref name="configuration"/> (for example
    /// <c>builder.Configuration.GetSection("PrimeInterop")</c>: keys <c>DevicePath</c>, <c>Driver</c>, <c>NodeType</c>).
    /// </summary>
    public static IServiceCollection AddPrimeInterop(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddPrimeInterop();
        services.AddOptions<PrimeInteropOptions>().Bind(configuration);
        return services;
    }

    /// <summary>
    /// Also registers the configured <see cref="DrmDevice"/> as a singleton, opened on first resolve by
    /// <see cref="IDrmDeviceFactory.Open()"/> and disposed with the container. Call after <c>AddPrimeInterop</c>.
    /// </summary>
    public static IServiceCollection AddPrimeInteropDevice(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => sp.GetRequiredService<IDrmDeviceFactory>().Open());
        return services;
    }
}
