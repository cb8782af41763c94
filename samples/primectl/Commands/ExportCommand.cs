using System.CommandLine;
using System.Net.Sockets;
using PrimeInterop;

namespace PrimeCtl.Commands;

/// <summary>primectl export: create a dumb buffer with the test image, export it, serve it on a UNIX socket.</summary>
internal sealed class ExportCommand : PrimeCtlCommand
{
    private readonly Option<string> _socket = CommonOptions.Socket("UNIX socket path to listen on");
    private readonly Option<string?> _driver = CommonOptions.Driver("Driver of the device to create the buffer on (dumb buffers: primary node)");
    private readonly Option<uint> _width = new("--width") { Description = "Image width in pixels", HelpName = "N", DefaultValueFactory = _ => 256 };
    private readonly Option<uint> _height = new("--height") { Description = "Image height in pixels", HelpName = "N", DefaultValueFactory = _ => 256 };
    private readonly Option<uint> _seed = CommonOptions.Seed(0, "Varies the test image; the importer must use the same");
    private readonly Option<uint> _count = new("--count") { Description = "Exit after serving N clients; 0 serves until Ctrl+C", HelpName = "N", DefaultValueFactory = _ => 0 };

    public ExportCommand()
        : base("export", "Create a buffer with a test image, export it as a dma-buf and serve it on a UNIX socket")
    {
        Add(_socket);
        Add(_driver);
        Add(_width);
        Add(_height);
        Add(_seed);
        Add(_count);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CancellationToken cancellationToken)
    {
        string socketPath = parse.GetRequiredValue(_socket);
        uint width = parse.GetValue(_width), height = parse.GetValue(_height), seed = parse.GetValue(_seed), count = parse.GetValue(_count);
        if (width is 0 or > 16384 || height is 0 or > 16384)
        {
            throw new UsageException($"--width and --height are 1 to 16384, not {width}x{height}");
        }

        using var device = OpenDevice(services, parse.GetValue(_driver), DrmNodeType.Primary);
        using var dumb = device.CreateDumbBuffer(width, height, 32);
        using (var map = dumb.Map())
        using (var cpu = map.BeginAccess())
        {
            TestImage.Fill(cpu.Span, width, height, dumb.Pitch, seed);
        }

        using var dmaBuf = device.ExportDmaBuf(dumb.Handle);
        dmaBuf.SetName("primectl test image");
        Console.WriteLine($"export: {width}x{height} XR24 dumb buffer on {device.Path} ({device.Version}), GEM handle {dumb.Handle.Value}, pitch {dumb.Pitch} -> {dmaBuf.Identity}, {dmaBuf.Size} bytes");

        File.Delete(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot listen on {socketPath}: {e.Message}", e);
        }

        listener.Listen(8);
        Console.WriteLine($"ready: serving on {socketPath}");
        try
        {
            for (uint served = 0; count == 0 || served < count;)
            {
                using var client = await listener.AcceptAsync(cancellationToken);
                using (var description = new DmaBufDescription(width, height, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
                    [new DmaBufPlane(dmaBuf.Duplicate(), 0, dumb.Pitch)]))
                {
                    await client.SendDmaBufAsync(description, cancellationToken);
                }

                served++;
                Console.WriteLine($"export: sent the dma-buf fd and its description to client #{served} over SCM_RIGHTS");
                await client.ReceiveAsync(new byte[1], cancellationToken); // the client's "done", or its close
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && count == 0)
        {
            Console.WriteLine("export: stopped");
        }
        finally
        {
            File.Delete(socketPath);
        }

        return ExitCodes.Ok;
    }
}
