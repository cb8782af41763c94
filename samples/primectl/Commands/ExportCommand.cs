using System.CommandLine;
using System.Net.Sockets;
using PrimeInterop;

namespace PrimeCtl.Commands;

/// <summary>
/// primectl export: make a buffer (dumb, udmabuf or heap) with the test image, export it, serve it on a UNIX socket.
/// With --fence-ms, each client gets the buffer with a pending vgem write fence: sent first, drawn, then signalled.
/// </summary>
internal sealed class ExportCommand : PrimeCtlCommand
{
    private readonly Option<string> _socket = CommonOptions.Socket("UNIX socket path to listen on");
    private readonly Option<string?> _driver = CommonOptions.Driver("Driver of the device to create the buffer on (dumb buffers: primary node)");
    private readonly Option<uint> _width = CommonOptions.Number("--width", 256, "Image width in pixels", min: 1, max: 16384);
    private readonly Option<uint> _height = CommonOptions.Number("--height", 256, "Image height in pixels", min: 1, max: 16384);
    private readonly Option<uint> _seed = CommonOptions.Seed(0, "Varies the test image; the importer must use the same");
    private readonly Option<uint> _count = CommonOptions.Number("--count", 0, "Exit after serving N clients; 0 serves until Ctrl+C");
    private readonly Option<string> _source = CommonOptions.Source();
    private readonly Option<uint> _fenceMs = CommonOptions.FenceMs(0, "Attach a vgem write fence before sending, draw after sending, signal after N ms (0: no fence, draw first)");

    public ExportCommand()
        : base("export", "Create a buffer with a test image, export it as a dma-buf and serve it on a UNIX socket")
    {
        Add(_socket);
        Add(_driver);
        Add(_width);
        Add(_height);
        Add(_seed);
        Add(_count);
        Add(_source);
        Add(_fenceMs);
    }

    protected override async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CancellationToken cancellationToken)
    {
        string socketPath = parse.GetRequiredValue(_socket);
        uint width = parse.GetValue(_width), height = parse.GetValue(_height), seed = parse.GetValue(_seed), count = parse.GetValue(_count);
        string? driver = parse.GetValue(_driver);
        uint fenceMs = parse.GetValue(_fenceMs);
        if (fenceMs > 9000)
        {
            throw new UsageException($"--fence-ms is 0 to 9000, not {fenceMs}: vgem signals a forgotten fence by itself after 10 s");
        }

        using var source = ExportSource.Create(parse.GetRequiredValue(_source), width, height,
            () => OpenDevice(services, driver, DrmNodeType.Primary), () => OpenDevice(services, "vgem", DrmNodeType.Render));
        DmaBuf dmaBuf = source.Buffer;
        bool drawLater = fenceMs > 0 && source.DrawsUnderFence;
        if (!drawLater)
        {
            source.Draw(width, height, seed);
        }

        dmaBuf.SetName("primectl test image");
        Console.WriteLine($"export: {source.Description} -> {dmaBuf.Identity}, {dmaBuf.Size} bytes");
        if (fenceMs > 0 && !source.DrawsUnderFence)
        {
            Console.WriteLine("export: a heap buffer's only CPU path is its dma-buf mapping, whose SYNC_START would wait for our own fence: drawn before the fence");
        }

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
                using var fence = fenceMs > 0 ? source.AttachWriteFence() : null;
                if (fence is not null)
                {
                    Console.WriteLine($"export: attached a {fence} (the buffer is 'being written')");
                }

                using (var description = new DmaBufDescription(width, height, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
                    [new DmaBufPlane(dmaBuf.Duplicate(), 0, source.Pitch)]))
                {
                    await client.SendDmaBufAsync(description, cancellationToken);
                }

                served++;
                Console.WriteLine($"export: sent the dma-buf fd and its description to client #{served} over SCM_RIGHTS");
                if (fence is not null)
                {
                    if (drawLater)
                    {
                        source.Draw(width, height, seed);
                        Console.WriteLine("export: drew the test image after sending, under the pending fence");
                    }

                    await Task.Delay(TimeSpan.FromMilliseconds(fenceMs), cancellationToken);
                    fence.Signal();
                    Console.WriteLine($"export: signalled the write fence after {fenceMs} ms");
                }

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
