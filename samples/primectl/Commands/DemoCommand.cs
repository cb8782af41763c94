using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using PrimeInterop;
using PrimeInterop.Hosting;

namespace PrimeCtl.Commands;

/// <summary>
/// The whole story in two processes: a child `primectl export` creates and serves the buffer, this process
/// receives it over the socket, imports it, verifies the pixels, and (where vkms is present) makes a framebuffer.
/// </summary>
internal sealed class DemoCommand : PrimeCtlCommand
{
    private readonly Option<string> _output = new("--output") { Description = "Where to write primectl-demo.png", HelpName = "DIR", DefaultValueFactory = _ => "." };
    private readonly Option<string?> _driver = CommonOptions.Driver("Driver to export from and import into");
    private readonly Option<uint> _seed = CommonOptions.Seed(42, "Varies the test image");
    private readonly Option<string> _source = CommonOptions.Source();
    private readonly Option<uint> _fenceMs = CommonOptions.FenceMs(1000, "The exporter signals its write fence N ms after sending (0: no fence)");

    public DemoCommand()
        : base("demo", "Export in one process, import and verify in another, and make a vkms framebuffer when vkms is present")
    {
        Add(_output);
        Add(_driver);
        Add(_seed);
        Add(_source);
        Add(_fenceMs);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CancellationToken cancellationToken)
    {
        uint seed = parse.GetValue(_seed);
        string outputDir = parse.GetRequiredValue(_output);
        string png = Path.Combine(outputDir, "primectl-demo.png");
        CheckWritable(outputDir, png); // before any process starts: a bad --output is the user's to fix, not a crash later

        var summary = new List<string>();
        var devices = services.GetRequiredService<IDrmDeviceFactory>();
        var nodes = devices.EnumerateNodes();
        Console.WriteLine($"demo: DRM nodes: {string.Join(", ", nodes.Select(n => $"{n.Path} ({n.DriverName ?? "?"})"))}");
        using var render = OpenDevice(services, parse.GetValue(_driver), DrmNodeType.Render); // fails first, and clearly, without the driver
        string driver = render.Version.Name;

        string socketPath = Path.Combine(Path.GetTempPath(), $"primectl-demo-{Environment.ProcessId}.sock");
        string[] exportArgs = ["export", "--socket", socketPath, "--count", "1", "--driver", driver, "--seed", seed.ToString(CultureInfo.InvariantCulture),
            "--source", parse.GetRequiredValue(_source), "--fence-ms", parse.GetValue(_fenceMs).ToString(CultureInfo.InvariantCulture)];
        using var exporter = StartExporter(parse.GetValue(Program.Verbose) ? [.. exportArgs, "--verbose"] : exportArgs);
        try
        {
            return await RunWithExporterAsync(exporter, render, devices, nodes, socketPath, seed, png, summary, cancellationToken);
        }
        finally
        {
            if (!exporter.HasExited)
            {
                exporter.Kill(); // on failure or Ctrl+C: the exporter would wait for a client forever
            }
        }
    }

    private static async Task<int> RunWithExporterAsync(Process exporter, DrmDevice render, IDrmDeviceFactory devices, IReadOnlyList<DrmNode> nodes,
        string socketPath, uint seed, string png, List<string> summary, CancellationToken cancellationToken)
    {
        Console.WriteLine($"demo: started exporter process {exporter.Id}");
        string? exportLine = null;
        while (true)
        {
            string? line = await exporter.StandardOutput.ReadLineAsync(cancellationToken)
                ?? throw new IOException($"the exporter exited before it was ready: {await exporter.StandardError.ReadToEndAsync(cancellationToken)}");
            Console.WriteLine($"  [export pid {exporter.Id}] {line}");
            exportLine ??= line.StartsWith("export:", StringComparison.Ordinal) ? line : null;
            if (line.StartsWith("ready:", StringComparison.Ordinal))
            {
                break;
            }
        }

        summary.Add($"exported   pid {exporter.Id}: {exportLine?["export: ".Length..]}");

        using var socket = await Importer.ConnectAsync(socketPath, cancellationToken);
        var report = await Importer.ReceiveAndVerifyAsync(socket, socketPath, render, seed, png, cancellationToken);
        using var description = report.Description;
        summary.Add($"received   pid {Environment.ProcessId}: 1 dma-buf fd + description over SCM_RIGHTS on {socketPath}");
        summary.Add($"imported   pid {Environment.ProcessId}: {render.Path} GEM handle {report.Handle} ({report.Objects} buffer object)");
        summary.Add(report.FenceWait is { } waited
            ? $"waited     {waited.TotalMilliseconds:F0} ms for the exporter's write fence (await WaitReadyAsync(Read): POLLIN on the dma-buf) before reading"
            : "waited     not at all: no pending write fence");
        summary.Add(report.Mismatches == 0
            ? $"verified   all {report.Pixels} pixels of the test image"
            : $"MISMATCH   {report.Mismatches} of {report.Pixels} pixels differ");

        string? exportTail = await exporter.StandardOutput.ReadToEndAsync(cancellationToken);
        await exporter.WaitForExitAsync(cancellationToken);
        foreach (string line in exportTail.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Console.WriteLine($"  [export pid {exporter.Id}] {line}");
        }

        if (exporter.ExitCode != 0)
        {
            throw new IOException($"the exporter exited with {exporter.ExitCode}: {await exporter.StandardError.ReadToEndAsync(cancellationToken)}");
        }

        if (nodes.Any(n => n.DriverName == "vkms"))
        {
            using var vkms = Opening(() => devices.Open("vkms", DrmNodeType.Primary));
            using var onVkms = vkms.ImportBuffer(description);
            using var fb = vkms.AddFramebuffer(onVkms);
            Console.WriteLine($"demo: imported into {vkms.Path} ({vkms.Version}) as GEM handle {onVkms.Handles[0].Value}, DRM_IOCTL_MODE_ADDFB2 -> framebuffer {fb.Id}");
            summary.Add($"framebuffer {fb.Id} on {vkms.Path} (vkms) from GEM handle {onVkms.Handles[0].Value}");
        }
        else
        {
            summary.Add("framebuffer skipped: no vkms here (sudo modprobe vkms, or run the demo in the rig)");
        }

        summary.Add($"png        {Path.GetFullPath(png)}");
        Console.WriteLine();
        Console.WriteLine("demo summary");
        foreach (string s in summary)
        {
            Console.WriteLine($"  {s}");
        }

        bool ok = report.Mismatches == 0;
        Console.WriteLine(ok ? "demo: OK" : "demo: FAILED");
        return ok ? ExitCodes.Ok : ExitCodes.VerificationFailed;
    }

    private static void CheckWritable(string outputDir, string png)
    {
        try
        {
            Directory.CreateDirectory(outputDir);
            using (File.Create(Path.Combine(outputDir, $".primectl-{Environment.ProcessId}.tmp"), 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write {Path.GetFullPath(png)}: {e.Message} (choose another --output DIR)", e);
        }
    }

    /// <summary>Starts this same program (the native binary, the apphost or `dotnet primectl.dll`) with other arguments.</summary>
    private static Process StartExporter(IEnumerable<string> args)
    {
        string self = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "primectl.dll"));
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi) ?? throw new IOException($"cannot start {self}");
    }
}
