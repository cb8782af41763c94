using System.CommandLine;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PrimeInterop;
using PrimeInterop.Hosting;

namespace PrimeCtl;

/// <summary>
/// A primectl command: declares its options and runs with the services (configuration, logging, PrimeInterop.Hosting).
/// This class maps every failure to an exit code and a one-line message; a stack trace only with --verbose.
/// </summary>
internal abstract partial class PrimeCtlCommand : Command
{
    protected PrimeCtlCommand(string name, string description)
        : base(name, description)
    {
        SetAction(InvokeAsync);
    }

    protected abstract Task<int> RunAsync(ParseResult parse, IServiceProvider services, CancellationToken cancellationToken);

    /// <summary>The services primectl runs with: PRIMECTL_* environment variables, console logging to stderr, AddPrimeInterop.</summary>
    public static ServiceProvider CreateServices(bool verbose)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables("PRIMECTL_").Build();
        return new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddLogging(b => b
                .AddSimpleConsole(o => o.SingleLine = true)
                .AddFilter((category, level) => level >= (verbose ? LogLevel.Debug : LogLevel.Warning)))
            .Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddPrimeInterop(configuration.GetSection("PrimeInterop"))
            .BuildServiceProvider();
    }

    /// <summary>
    /// Opens the device a command works on: --driver when given; else the configured DevicePath or Driver
    /// (PRIMECTL_PrimeInterop__*); else vgem. <paramref name="nodeType"/> null means the configured node type.
    /// </summary>
    protected static DrmDevice OpenDevice(IServiceProvider services, string? driver, DrmNodeType? nodeType)
    {
        var devices = services.GetRequiredService<IDrmDeviceFactory>();
        var configured = services.GetRequiredService<IOptions<PrimeInteropOptions>>().Value;
        if (driver is null && !string.IsNullOrEmpty(configured.DevicePath))
        {
            return Opening(devices.Open);
        }

        return Opening(() => devices.Open(driver ?? configured.Driver ?? "vgem", nodeType ?? configured.NodeType));
    }

    /// <summary>
    /// Runs <paramref name="open"/>; a device that is not there or that the user may not open becomes a
    /// <see cref="NoDeviceException"/> (exit 3: the user fixes it with modprobe, groups or the rig).
    /// </summary>
    protected static T Opening<T>(Func<T> open)
    {
        try
        {
            return open();
        }
        catch (DrmException e) when (e.IsNotFound || e.IsPermissionDenied)
        {
            throw new NoDeviceException(e);
        }
    }

    private async Task<int> InvokeAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        bool verbose = parse.GetValue(Program.Verbose);
        string who = $"primectl {Name}";
        try
        {
            using var services = CreateServices(verbose);
            var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("primectl");
            try
            {
                // Options are checked here (ValidateOnStart's moment for a host-less tool), before any device is opened.
                _ = services.GetRequiredService<IOptions<PrimeInteropOptions>>().Value;
                return await RunAsync(parse, services, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogFailure(log, e);
                throw;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine($"{who}: interrupted");
            return ExitCodes.Cancelled;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"{who}: {e.Message} (see '{who} --help')");
            return ExitCodes.Usage;
        }
        catch (OptionsValidationException e)
        {
            Console.Error.WriteLine($"{who}: invalid configuration: {string.Join(" ", e.Failures)}");
            return ExitCodes.Usage;
        }
        catch (NoDeviceException e)
        {
            Console.Error.WriteLine($"{who}: {e.Message}{(e.Message.EndsWith('.') || e.Message.EndsWith('?') ? "" : ".")} {Program.NoDeviceHelp}");
            return ExitCodes.NoDevice;
        }
        catch (Exception e)
        {
            // Every other failure is one line: what failed and why. --verbose logged the whole exception above.
            string message = e switch
            {
                InvalidOperationException when e.InnerException is FormatException or InvalidOperationException or ArgumentException => $"invalid configuration: {e.Message}",
                DrmException or IOException or SocketException or InvalidDataException or ArgumentException or UnauthorizedAccessException => e.Message,
                _ => $"{e.GetType().Name}: {e.Message}",
            };
            Console.Error.WriteLine($"{who}: {message}");
            return e is InvalidOperationException && message.StartsWith("invalid configuration", StringComparison.Ordinal) ? ExitCodes.Usage : ExitCodes.Failed;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Command failed")]
    private static partial void LogFailure(ILogger logger, Exception e);
}

/// <summary>A usage error found after parsing (a value the parser cannot check): exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>No such device, or no permission to open it (exit code 3); the message is the library's.</summary>
internal sealed class NoDeviceException(DrmException inner) : Exception(inner.Message, inner);
