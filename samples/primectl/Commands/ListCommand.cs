using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using PrimeInterop;
using PrimeInterop.Hosting;

namespace PrimeCtl.Commands;

/// <summary>primectl list [--json]</summary>
internal sealed class ListCommand : PrimeCtlCommand
{
    private readonly Option<bool> _json = new("--json") { Description = "Print JSON for scripts" };

    public ListCommand()
        : base("list", "List DRM nodes: path, type, driver, version and PRIME capabilities")
    {
        Add(_json);
    }

    protected override Task<int> RunAsync(ParseResult parse, IServiceProvider services, CancellationToken cancellationToken) =>
        // Versions and capabilities are what the user asked for: each node is opened briefly to read them.
        Task.FromResult(Write(
            services.GetRequiredService<IDrmDeviceFactory>().EnumerateNodes().Select(n => n.Probe()).ToList(),
            parse.GetValue(_json),
            Console.Out));

    /// <summary>Writes the nodes as a table or JSON; exit code 3 (and nothing on stdout, not even "[]") when there are none.</summary>
    public static int Write(IReadOnlyList<DrmNode> nodes, bool json, TextWriter output)
    {
        if (nodes.Count == 0)
        {
            Console.Error.WriteLine($"primectl list: no DRM device{(Directory.Exists("/dev/dri") ? "" : " (there is no /dev/dri)")}. {Program.NoDeviceHelp}");
            return ExitCodes.NoDevice;
        }

        if (json)
        {
            var rows = nodes.Select(n => new NodeRow(
                n.Path,
                n.Type.ToString().ToLowerInvariant(),
                n.DriverName,
                n.Version is { } v ? $"{v.Major}.{v.Minor}.{v.Patch}" : null,
                n.Version?.Description,
                n.PrimeCapabilities.HasFlag(PrimeCapabilities.Import),
                n.PrimeCapabilities.HasFlag(PrimeCapabilities.Export),
                n.DeviceKey,
                n.ProbeError)).ToList();
            output.WriteLine(JsonSerializer.Serialize(rows, ListJson.Default.ListNodeRow));
        }
        else
        {
            output.WriteLine($"{"PATH",-22} {"TYPE",-8} {"DRIVER",-10} {"VERSION",-9} {"PRIME",-14} DEVICE");
            foreach (var n in nodes)
            {
                string prime = n.ProbeError is not null ? "(cannot open)" : n.PrimeCapabilities switch
                {
                    PrimeCapabilities.Import | PrimeCapabilities.Export => "import,export",
                    PrimeCapabilities.None => "-",
                    var c => c.ToString().ToLowerInvariant(),
                };
                string version = n.Version is { } v ? $"{v.Major}.{v.Minor}.{v.Patch}" : "?";
                output.WriteLine($"{n.Path,-22} {n.Type.ToString().ToLowerInvariant(),-8} {n.DriverName ?? "?",-10} {version,-9} {prime,-14} {n.DeviceKey}");
                if (n.ProbeError is not null)
                {
                    output.WriteLine($"  {n.ProbeError}");
                }
            }
        }

        return ExitCodes.Ok;
    }
}

/// <summary>One node in `list --json`.</summary>
internal sealed record NodeRow(string Path, string Type, string? Driver, string? Version, string? Description, bool PrimeImport, bool PrimeExport, string Device, string? Error);

/// <summary>Source-generated JSON for `list --json` (no reflection: NativeAOT-safe).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(List<NodeRow>))]
internal sealed partial class ListJson : JsonSerializerContext;
