using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
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
        _ = Sections(services);
        services.AddOptions<PrimeInteropOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PrimeInteropOptions>, PrimeInteropOptionsValidator>());
        services.TryAddSingleton<IDrmDeviceFactory>(sp => new DrmDeviceFactory(
            sp.GetRequiredService<IOptionsMonitor<PrimeInteropOptions>>(),
            sp.GetRequiredService<PrimeInteropSections>(),
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
    /// Messages about these options name the section's path.
    /// </summary>
    public static IServiceCollection AddPrimeInterop(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddPrimeInterop();
        services.AddOptions<PrimeInteropOptions>().Bind(configuration);
        RecordPath(services, Options.Options.DefaultName, configuration);
        return services;
    }

    /// <summary>
    /// Also registers the configured <see cref="DrmDevice"/> as a singleton, disposed with the container. In a host it
    /// is opened when the host starts, before "Application started": a missing device or a node the user may not open
    /// fails <c>StartAsync</c> with a message that names the configuration section. Without a host it opens on first
    /// resolve. Call after <c>AddPrimeInterop</c>.
    /// </summary>
    public static IServiceCollection AddPrimeInteropDevice(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(IDrmDeviceFactory)))
        {
            services.AddPrimeInterop();
        }

        services.TryAddSingleton(sp => sp.GetRequiredService<IDrmDeviceFactory>().Open());
        AddDevice(services, Options.Options.DefaultName);
        return services;
    }

    /// <summary>
    /// Registers a second (third, …) device under <paramref name="name"/>, with its own options bound from
    /// <paramref name="configuration"/>: a keyed singleton, resolved with <c>GetRequiredKeyedService&lt;DrmDevice&gt;(name)</c>
    /// or <c>[FromKeyedServices(name)]</c>, and opened by <see cref="IDrmDeviceFactory.Open(string)"/>. For the display
    /// card and the render node a compositor needs, say. Opened at host start like <see cref="AddPrimeInteropDevice(IServiceCollection)"/>.
    /// </summary>
    public static IServiceCollection AddPrimeInteropDevice(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        AddNamedDevice(services, name).Bind(configuration);
        RecordPath(services, name, configuration);
        return services;
    }

    /// <summary>As <see cref="AddPrimeInteropDevice(IServiceCollection, string, IConfiguration)"/>, with the options set by <paramref name="configure"/>.</summary>
    public static IServiceCollection AddPrimeInteropDevice(this IServiceCollection services, string name, Action<PrimeInteropOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        AddNamedDevice(services, name).Configure(configure);
        return services;
    }

    private static OptionsBuilder<PrimeInteropOptions> AddNamedDevice(IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (services.Any(d => d.IsKeyedService && d.ServiceType == typeof(DrmDevice) && Equals(d.ServiceKey, name)))
        {
            throw new ArgumentException($"A PrimeInterop device named '{name}' is registered already.", nameof(name));
        }

        services.AddPrimeInterop();
        services.AddKeyedSingleton<DrmDevice>(name, (sp, _) => sp.GetRequiredService<IDrmDeviceFactory>().Open(name));
        AddDevice(services, name);
        return services.AddOptions<PrimeInteropOptions>(name).ValidateOnStart();
    }

    /// <summary>Notes the device for the start-up check, and adds that check (a hosted service) once.</summary>
    private static void AddDevice(IServiceCollection services, string name)
    {
        var sections = Sections(services);
        if (!sections.Devices.Contains(name))
        {
            sections.Devices.Add(name);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DrmDeviceStartup>());
    }

    private static void RecordPath(IServiceCollection services, string name, IConfiguration configuration)
    {
        if (configuration is IConfigurationSection section)
        {
            Sections(services).Record(name, section.Path);
        }
    }

    /// <summary>The one <see cref="PrimeInteropSections"/> of this collection, added on first use.</summary>
    private static PrimeInteropSections Sections(IServiceCollection services)
    {
        if (services.FirstOrDefault(d => d.ServiceType == typeof(PrimeInteropSections) && !d.IsKeyedService)?.ImplementationInstance is PrimeInteropSections existing)
        {
            return existing;
        }

        var sections = new PrimeInteropSections();
        services.AddSingleton(sections);
        return sections;
    }
}
