using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PrimeInterop.Hosting;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>PrimeInterop.Hosting by convention: configuration binding, validation at start, no logging required, a container-owned device.</summary>
public sealed class HostingTests
{
    private static ServiceProvider FromConfiguration(params (string Key, string Value)[] settings) =>
        new ServiceCollection()
            .AddPrimeInterop(new ConfigurationBuilder()
                .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>($"PrimeInterop:{s.Key}", s.Value)))
                .Build()
                .GetSection("PrimeInterop"))
            .BuildServiceProvider();

    [Fact]
    public void Options_bind_from_configuration_and_resolve_without_AddLogging()
    {
        using var services = FromConfiguration(("Driver", "vgem"), ("NodeType", "Primary"), ("DevicePath", "/dev/dri/card0"));
        var options = services.GetRequiredService<IOptions<PrimeInteropOptions>>().Value;
        Assert.Equal("vgem", options.Driver);
        Assert.Equal(DrmNodeType.Primary, options.NodeType);
        Assert.Equal("/dev/dri/card0", options.DevicePath);
        Assert.NotNull(services.GetRequiredService<IDrmDeviceFactory>()); // no ILoggerFactory registered: NullLogger
    }

    [Theory]
    [InlineData("NodeType", "7", "PrimeInterop:NodeType is 7; use Primary or Render.")]
    [InlineData("DevicePath", "dri/renderD128", "PrimeInterop:DevicePath 'dri/renderD128' is not an absolute path under /dev")]
    [InlineData("Driver", "../vgem", "PrimeInterop:Driver '../vgem' is not a driver name")]
    public void Invalid_options_fail_with_a_message_that_names_the_setting(string key, string value, string message)
    {
        using var services = FromConfiguration((key, value));
        var e = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<PrimeInteropOptions>>().Value);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_with_bad_options_fails_at_start_not_at_first_use()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddPrimeInterop(o => o.NodeType = (DrmNodeType)7);
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains("PrimeInterop:NodeType is 7", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_that_does_not_convert_names_the_key()
    {
        using var services = FromConfiguration(("NodeType", "Bogus"));
        var e = Assert.Throws<InvalidOperationException>(() => services.GetRequiredService<IOptions<PrimeInteropOptions>>().Value);
        Assert.Contains("PrimeInterop:NodeType", e.Message, StringComparison.Ordinal);
        Assert.Contains("Bogus", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void The_container_owns_the_registered_device_and_disposes_it()
    {
        KernelEnv.RequireVgem();
        using var oracle = new LeakOracle();
        DrmDevice device;
        using (var services = new ServiceCollection().AddPrimeInterop(o => o.Driver = "vgem").AddPrimeInteropDevice().BuildServiceProvider())
        {
            device = services.GetRequiredService<DrmDevice>();
            Assert.Same(device, services.GetRequiredService<DrmDevice>());
            Assert.Equal("vgem", device.Version.Name);
            Assert.Equal(DrmNodeType.Render, device.NodeType);
        }

        Assert.True(device.FileHandle.IsClosed);
        oracle.Verify(); // the device's fd is closed: the container disposed it
    }

    [Fact]
    public void A_keyed_device_s_options_are_validated_with_messages_that_name_its_section()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([new("Devices:Display:NodeType", "9"), new("Devices:Display:Driver", "vkms")])
            .Build();
        using var services = new ServiceCollection()
            .AddPrimeInteropDevice("display", configuration.GetSection("Devices:Display"))
            .BuildServiceProvider();
        var e = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IDrmDeviceFactory>().Open("display"));
        Assert.Contains("Devices:Display:NodeType is 9; use Primary or Render.", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddPrimeInteropDevice("display", o => { }).AddPrimeInteropDevice("display", o => { }));
    }

    [Fact]
    public async Task A_device_that_cannot_be_opened_fails_the_host_start_before_Application_started_naming_its_section()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection([new("Gpu:Display:DevicePath", "/dev/dri/card99")]);
        builder.Services.AddPrimeInteropDevice("display", builder.Configuration.GetSection("Gpu:Display"));
        using var host = builder.Build();
        bool started = false;
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.Register(() => started = true);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync(TestContext.Current.CancellationToken));
        Assert.StartsWith("Gpu:Display: cannot open the configured DRM device (DevicePath=/dev/dri/card99): ", e.Message, StringComparison.Ordinal);
        Assert.True(Assert.IsType<DrmException>(e.InnerException).IsNotFound);
        Assert.False(started);
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public async Task Keyed_devices_open_when_the_host_starts_and_close_with_it()
    {
        KernelEnv.RequireVgem();
        using var oracle = new LeakOracle();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection([new("Gpu:Card:Driver", "vgem"), new("Gpu:Card:NodeType", "Primary"), new("Gpu:Render:Driver", "vgem")]);
        builder.Services
            .AddPrimeInteropDevice("card", builder.Configuration.GetSection("Gpu:Card"))
            .AddPrimeInteropDevice("render", builder.Configuration.GetSection("Gpu:Render"));
        DrmDevice card, render;
        using (var host = builder.Build())
        {
            using (var watch = new OpenWatch("/dev/dri"))
            {
                await host.StartAsync(TestContext.Current.CancellationToken);
                Assert.Equal(2, watch.Opened().Count); // both opened during StartAsync, not at first use
            }

            card = host.Services.GetRequiredKeyedService<DrmDevice>("card");
            render = host.Services.GetRequiredKeyedService<DrmDevice>("render");
            Assert.Equal((DrmNodeType.Primary, DrmNodeType.Render), (card.NodeType, render.NodeType));
            Assert.Equal("vgem", render.Version.Name);
            await host.StopAsync(TestContext.Current.CancellationToken);
        }

        Assert.Throws<ObjectDisposedException>(() => card.Version);
        oracle.Verify(); // both fds closed: the container disposed the devices
    }
}
