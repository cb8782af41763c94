using System.CommandLine;

namespace PrimeCtl.Commands;

/// <summary>primectl import: connect to an exporter, receive the dma-buf, import it, verify the test image.</summary>
internal sealed class ImportCommand : PrimeCtlCommand
{
    private readonly Option<string> _socket = CommonOptions.Socket("UNIX socket path of the exporter");
    private readonly Option<string?> _driver = CommonOptions.Driver("Driver of the device to import into");
    private readonly Option<PrimeInterop.DrmNodeType?> _node = CommonOptions.Node("Node type to import on");
    private readonly Option<uint> _seed = CommonOptions.Seed(0, "The exporter's seed");
    private readonly Option<string?> _png = new("--png") { Description = "Also write the received pixels to a PNG", HelpName = "FILE" };

    public ImportCommand()
        : base("import", "Connect to an exporter, receive the dma-buf, import it, verify the test image")
    {
        Add(_socket);
        Add(_driver);
        Add(_node);
        Add(_seed);
        Add(_png);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CancellationToken cancellationToken)
    {
        string socketPath = parse.GetRequiredValue(_socket);
        using var socket = await Importer.ConnectAsync(socketPath, cancellationToken);
        using var device = OpenDevice(services, parse.GetValue(_driver), parse.GetValue(_node));
        var report = await Importer.ReceiveAndVerifyAsync(socket, socketPath, device, parse.GetValue(_seed), parse.GetValue(_png), cancellationToken);
        report.Description.Dispose();
        return report.Mismatches == 0 ? ExitCodes.Ok : ExitCodes.VerificationFailed;
    }
}
