using System.CommandLine;
using System.CommandLine.Invocation;
using PrimeInterop;

namespace PrimeComp;

/// <summary>
/// primecomp: a minimal Wayland compositor that scans its clients' dma-bufs out on a KMS card (vkms), with
/// <c>run</c>, which starts weston-simple-dmabuf-egl clients against it and proves every frame, and <c>serve</c>.
/// </summary>
internal static class Program
{
    public const int Succeeded = 0, Failed = 1, Usage = 2;

    public static int Main(string[] args)
    {
        var clients = new Option<int>("--clients") { Description = "weston-simple-dmabuf-egl clients at once", DefaultValueFactory = _ => 2 };
        var frames = new Option<int>("--frames") { Description = "Frames of each client to verify", DefaultValueFactory = _ => 60 };
        var measured = new Option<int>("--measure-frames") { Description = "Frames of each client to measure unchecked afterwards", DefaultValueFactory = _ => 60 };
        var size = new Option<int>("--size") { Description = "The clients' window size", DefaultValueFactory = _ => 256 };
        var shim = new Option<string?>("--clock-shim") { Description = "native/clock-freeze.c's library, LD_PRELOADed into the clients [default: artifacts/native/libclock-freeze.so beside the repository]", HelpName = "PATH" };
        var output = new Option<string?>("--output") { Description = "A directory for compositor.txt (the summary line) and the measurements [default: $RIG_OUT when set]", HelpName = "DIR" };
        var verbose = new Option<bool>("--verbose") { Description = "Say what the compositor refused, and what the clients printed" };
        var run = new Command("run", "Start weston-simple-dmabuf-egl clients against the compositor on vkms, verify their frames (picture, CRC, writeback) and measure")
        {
            clients, frames, measured, size, shim, output, verbose,
        };
        run.SetAction(parse => Run(new RunOptions
        {
            Clients = parse.GetValue(clients),
            VerifiedFrames = parse.GetValue(frames),
            MeasuredFrames = parse.GetValue(measured),
            Size = parse.GetValue(size),
            ClockShim = parse.GetValue(shim) ?? DefaultShim(),
            Log = parse.GetValue(verbose) ? Console.Error.WriteLine : null,
        }, parse.GetValue(output) ?? Environment.GetEnvironmentVariable("RIG_OUT"), parse.GetValue(verbose)));

        var socket = new Option<string>("--socket") { Description = "The socket to listen on", HelpName = "PATH", Required = true };
        var serve = new Command("serve", "Serve clients on a socket until Ctrl+C") { socket };
        serve.SetAction(parse => Serve(parse.GetValue(socket)!));

        var root = new RootCommand("primecomp — a minimal Wayland compositor on PrimeInterop that scans client dma-bufs out on vkms (a PrimeInterop sample)\n\n" +
            "Exit codes: 0 verified (run) or stopped (serve), 1 failure, 2 usage error.")
        {
            run, serve,
        };
        ParseResult result = root.Parse(args);
        if (result.Action is ParseErrorAction error)
        {
            error.ShowHelp = false;
            result.Invoke(new InvocationConfiguration { Output = Console.Error, Error = Console.Error });
            return Usage;
        }

        return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    private static int Run(RunOptions options, string? outputDirectory, bool verbose)
    {
        RunReport report;
        try
        {
            report = ClientsRun.RunAsync(options).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException or DrmException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"primecomp: {e.Message}");
            Write(outputDirectory, $"compositor: FAILED: {e.Message.Split('\n')[0]}", []);
            Console.WriteLine($"compositor: FAILED: {e.Message.Split('\n')[0]}");
            return Failed;
        }

        foreach (string line in report.Measurements)
        {
            Console.WriteLine(line);
        }

        foreach (string problem in report.Problems.Skip(1))
        {
            Console.WriteLine($"also: {problem}");
        }

        if (verbose || !report.Succeeded)
        {
            report.ClientOutputs.ToList().ForEach(Console.Error.WriteLine);
        }

        Write(outputDirectory, report.Summary, report.Measurements);
        Console.WriteLine(report.Summary);
        return report.Succeeded ? Succeeded : Failed;
    }

    private static int Serve(string socket)
    {
        using var stop = new ManualResetEventSlim();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Set();
        };
        using Compositor compositor = Compositor.Start(new CompositorOptions { SocketPath = socket, Log = Console.Error.WriteLine });
        Console.WriteLine($"primecomp: serving {socket} on {compositor.Card.Path}; Ctrl+C stops");
        stop.Wait();
        return Succeeded;
    }

    private static void Write(string? directory, string summary, IEnumerable<string> measurements)
    {
        if (directory is not null && Directory.Exists(directory))
        {
            File.WriteAllText(Path.Combine(directory, "compositor.txt"), summary + "\n");
            File.WriteAllLines(Path.Combine(directory, "compositor-measurements.txt"), measurements);
        }
    }

    /// <summary>artifacts/native/libclock-freeze.so of the repository this program was built in, when it is there.</summary>
    private static string? DefaultShim()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string shim = Path.Combine(dir.FullName, "artifacts", "native", "libclock-freeze.so");
            if (File.Exists(shim))
            {
                return shim;
            }
        }

        return null;
    }
}
