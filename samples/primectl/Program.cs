using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PrimeCtl;
using PrimeCtl.Commands;
using PrimeInterop;
using PrimeInterop.Hosting;

namespace PrimeCtl
{
    internal static partial class Program
    {
        public const string ExitCodeHelp =
            "exit codes: 0 ok, 1 pixels did not verify, 2 usage error, 3 no DRM device or no permission, 4 other failure, 130 interrupted";

        public const string NoDeviceHelp =
            "No usable DRM device. On a Linux box: sudo modprobe vgem (and vkms for framebuffers), and be root or in the\n" +
            "'render' (render nodes) and 'video' (card nodes) groups. Without /dev/dri (containers, CI), run it in the\n" +
            "PrimeInterop rig: dotnet tool restore && dotnet cake --target=Demo";

        public static string DefaultSocket => Path.Combine(Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") ?? Path.GetTempPath(), "primectl.sock");

        private static readonly Type[] CommandTypes = [typeof(ListCommand), typeof(ExportCommand), typeof(ImportCommand), typeof(DemoCommand)];

        public static async Task<int> Main(string[] args)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ApplicationName = "primectl" });
            builder.Configuration.AddEnvironmentVariables("PRIMECTL_");
            bool verbose = args.Contains("--verbose");
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true)
                .AddConfiguration(builder.Configuration.GetSection("Logging"))
                .SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Warning);
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
            builder.Services.AddPrimeInterop();
            builder.Services.AddOptions<PrimeInteropOptions>().Bind(builder.Configuration.GetSection("PrimeInterop"));
            foreach (var t in CommandTypes)
            {
                builder.Services.AddSingleton(typeof(Command), t);
            }

            using var host = builder.Build();
            var commands = host.Services.GetServices<Command>().ToList();
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                PrintUsage(commands, args.Length == 0 ? Console.Error : Console.Out);
                return args.Length == 0 ? ExitCodes.Usage : ExitCodes.Ok;
            }

            var command = commands.FirstOrDefault(c => c.Name == args[0]);
            if (command is null)
            {
                Console.Error.WriteLine($"primectl: unknown command '{args[0]}'");
                PrintUsage(commands, Console.Error);
                return ExitCodes.Usage;
            }

            if (args.Skip(1).Any(a => a is "--help" or "-h"))
            {
                command.PrintHelp(Console.Out);
                return ExitCodes.Ok;
            }

            ParsedOptions options;
            try
            {
                options = ParsedOptions.Parse(command, args.Skip(1));
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine($"primectl {command.Name}: {e.Message} (see primectl {command.Name} --help)");
                return ExitCodes.Usage;
            }

            await host.StartAsync();
            var stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
            var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("primectl");
            int code;
            try
            {
                code = await command.RunAsync(options, host.Services, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                Console.Error.WriteLine($"primectl {command.Name}: interrupted");
                code = ExitCodes.Cancelled;
            }
            catch (UsageException e)
            {
                Console.Error.WriteLine($"primectl {command.Name}: {e.Message} (see primectl {command.Name} --help)");
                code = ExitCodes.Usage;
            }
            catch (DrmException e) when (e.ErrnoName is "ENOENT" or "ENODEV" or "EACCES" or "EPERM" && e.Operation == "open")
            {
                Console.Error.WriteLine($"primectl {command.Name}: {e.Message}");
                Console.Error.WriteLine(NoDeviceHelp);
                code = ExitCodes.NoDevice;
            }
            catch (Exception e) when (e is DrmException or IOException or SocketException or InvalidDataException or ArgumentException)
            {
                LogFailure(log, e);
                Console.Error.WriteLine($"primectl {command.Name}: {e.Message}");
                code = ExitCodes.Failed;
            }

            await host.StopAsync(CancellationToken.None);
            return code;
        }

        private static void PrintUsage(IEnumerable<Command> commands, TextWriter w)
        {
            w.WriteLine("primectl — share GPU buffers through DRM PRIME (a PrimeInterop sample)");
            w.WriteLine();
            w.WriteLine("usage: primectl <command> [options]    primectl <command> --help");
            w.WriteLine();
            foreach (var c in commands)
            {
                w.WriteLine($"  {c.Name,-8} {c.Summary}");
            }

            w.WriteLine();
            w.WriteLine("The device can also be chosen with PRIMECTL_PrimeInterop__DevicePath / __Driver / __NodeType.");
            w.WriteLine(ExitCodeHelp);
        }

        [LoggerMessage(Level = LogLevel.Debug, Message = "Command failed")]
        private static partial void LogFailure(ILogger logger, Exception e);
    }
}
