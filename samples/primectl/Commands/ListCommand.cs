using System.Text.Json;
using PrimeInterop;
using PrimeInterop.Hosting;

namespace PrimeCtl.Commands;

internal sealed class ListCommand(IDrmDeviceFactory devices) : Command
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public override string Name => "list";

    public override string Summary => "list DRM nodes: path, type, driver, version and PRIME capabilities";

    public override IReadOnlyList<OptionSpec> Options { get; } = [new("json", null, "print JSON for scripts")];

    public override Task<int> RunAsync(ParsedOptions options, IServiceProvider services, CancellationToken cancellationToken)
    {
        // Listing versions and capabilities is what the user asked for: each node is opened briefly to read them.
        var nodes = devices.EnumerateNodes().Select(n => n.Probe()).ToList();
        if (options.Has("json"))
        {
            var rows = nodes.Select(n => new
            {
                path = n.Path,
                type = n.Type.ToString().ToLowerInvariant(),
                driver = n.DriverName,
                version = n.Version is { } v ? $"{v.Major}.{v.Minor}.{v.Patch}" : null,
                description = n.Version?.Description,
                primeImport = n.PrimeCapabilities.HasFlag(PrimeCapabilities.Import),
                primeExport = n.PrimeCapabilities.HasFlag(PrimeCapabilities.Export),
                device = n.DeviceKey,
                error = n.ProbeError,
            });
            Console.WriteLine(JsonSerializer.Serialize(rows, Indented));
        }
        else if (nodes.Count > 0)
        {
            Console.WriteLine($"{"PATH",-22} {"TYPE",-8} {"DRIVER",-10} {"VERSION",-9} {"PRIME",-14} DEVICE");
            foreach (var n in nodes)
            {
                string prime = n.ProbeError is not null ? "(cannot open)" : n.PrimeCapabilities switch
                {
                    PrimeCapabilities.Import | PrimeCapabilities.Export => "import,export",
                    PrimeCapabilities.None => "-",
                    var c => c.ToString().ToLowerInvariant(),
                };
                string version = n.Version is { } v ? $"{v.Major}.{v.Minor}.{v.Patch}" : "?";
                Console.WriteLine($"{n.Path,-22} {n.Type.ToString().ToLowerInvariant(),-8} {n.DriverName ?? "?",-10} {version,-9} {prime,-14} {n.DeviceKey}");
                if (n.ProbeError is not null)
                {
                    Console.WriteLine($"  {n.ProbeError}");
                }
            }
        }

        if (nodes.Count == 0)
        {
            Console.Error.WriteLine(Program.NoDeviceHelp);
            return Task.FromResult(ExitCodes.NoDevice);
        }

        return Task.FromResult(ExitCodes.Ok);
    }
}
