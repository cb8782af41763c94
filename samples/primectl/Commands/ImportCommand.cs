using PrimeInterop;
using PrimeInterop.Hosting;

namespace PrimeCtl.Commands;

internal sealed class ImportCommand(IDrmDeviceFactory devices) : Command
{
    public override string Name => "import";

    public override string Summary => "connect to an exporter, receive the dma-buf, import it, verify the test image";

    public override IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("socket", "PATH", "UNIX socket path of the exporter", Program.DefaultSocket),
        new("driver", "NAME", "driver of the device to import into", "vgem"),
        new("node", "render|primary", "node type to import on", "render"),
        new("seed", "N", "the exporter's seed", "0"),
        new("png", "FILE", "also write the received pixels to a PNG"),
    ];

    public override async Task<int> RunAsync(ParsedOptions options, IServiceProvider services, CancellationToken cancellationToken)
    {
        var nodeType = options.Get("node", "render") switch
        {
            "render" => DrmNodeType.Render,
            "primary" => DrmNodeType.Primary,
            var other => throw new UsageException($"--node is render or primary, not '{other}'"),
        };
        string socketPath = options.Get("socket", Program.DefaultSocket);
        using var socket = await Importer.ConnectAsync(socketPath, cancellationToken);
        using var device = devices.Open(options.Get("driver", "vgem"), nodeType);
        var report = await Importer.ReceiveAndVerifyAsync(socket, socketPath, device, options.GetUInt("seed", 0), options.Get("png"), cancellationToken);
        report.Description.Dispose();
        return report.Mismatches == 0 ? ExitCodes.Ok : ExitCodes.VerificationFailed;
    }
}
