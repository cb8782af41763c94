using System.Net.Sockets;
using PrimeInterop;
using PrimeInterop.Hosting;

namespace PrimeCtl.Commands;

internal sealed class ExportCommand(IDrmDeviceFactory devices) : Command
{
    public override string Name => "export";

    public override string Summary => "create a buffer with a test image, export it as a dma-buf and serve it on a UNIX socket";

    public override IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("socket", "PATH", "UNIX socket path to listen on", Program.DefaultSocket),
        new("driver", "NAME", "driver of the device to create the buffer on (dumb buffers: primary node)", "vgem"),
        new("width", "N", "image width in pixels", "256"),
        new("height", "N", "image height in pixels", "256"),
        new("seed", "N", "varies the test image; the importer must use the same", "0"),
        new("count", "N", "exit after serving N clients; 0 serves until Ctrl+C", "0"),
    ];

    public override async Task<int> RunAsync(ParsedOptions options, IServiceProvider services, CancellationToken cancellationToken)
    {
        string socketPath = options.Get("socket", Program.DefaultSocket);
        uint width = options.GetUInt("width", 256), height = options.GetUInt("height", 256), seed = options.GetUInt("seed", 0), count = options.GetUInt("count", 0);

        using var device = devices.Open(options.Get("driver", "vgem"), DrmNodeType.Primary);
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
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
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
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
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
