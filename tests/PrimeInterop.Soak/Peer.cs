using System.Net.Sockets;

namespace PrimeInterop.Soak;

/// <summary>
/// The second process: serves each connection until the soak closes it. For every buffer it receives it checks the
/// pattern, imports it into vgem's render node and into vkms, checks that both imports export back to the same
/// dma-buf, writes the inverted pattern and sends its vkms export back. Prints one "peer: …" line and exits.
/// </summary>
internal static class Peer
{
    private static long _operations;

    public static async Task<int> RunAsync(string socketPath, int connections)
    {
        using var render = DrmDevice.OpenByDriver("vgem", DrmNodeType.Render);
        using var vkms = DrmDevice.OpenByDriver("vkms", DrmNodeType.Primary);
        var highWater = new HandleHighWater();
        var sockets = new List<Socket>();
        for (int i = 0; i < connections; i++)
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
            sockets.Add(s);
        }

        Dictionary<int, string>? before = null;
        var first = new TaskCompletionSource();
        var serving = sockets.Select((s, i) => Task.Run(() => ServeAsync(s, render, vkms, highWater, i == 0 ? first : null))).ToList();
        await first.Task; // the first message warmed up every path this process uses
        before = Leaks.FdTable();
        await Task.WhenAll(serving);

        sockets.ForEach(s => s.Dispose());
        int leakedFds = Leaks.NewFds(before, "peer");
        int leakedHandles = Leaks.OpenHandles(render, highWater.Of(render), "peer") + Leaks.OpenHandles(vkms, highWater.Of(vkms), "peer");
        var summary = new PeerSummary(Interlocked.Read(ref _operations), Violations.Count, leakedFds, leakedHandles);
        Console.WriteLine(summary);
        return summary is { Violations: 0, LeakedFds: 0, LeakedHandles: 0 } ? 0 : 1;
    }

    private static async Task ServeAsync(Socket socket, DrmDevice render, DrmDevice vkms, HandleHighWater highWater, TaskCompletionSource? firstDone)
    {
        while (true)
        {
            DmaBufDescription? received;
            try
            {
                received = await socket.ReceiveDmaBufAsync();
            }
            catch (Exception e)
            {
                Violations.Report($"peer: receive threw {e.GetType().Name}: {e.Message}");
                return;
            }

            if (received is null)
            {
                firstDone?.TrySetResult();
                return;
            }

            try
            {
                using (received)
                {
                    await HandleOneAsync(socket, received, render, vkms, highWater);
                }
            }
            catch (Exception e)
            {
                Violations.Report($"peer: {e.GetType().Name}: {e.Message}");
            }

            Interlocked.Increment(ref _operations);
            firstDone?.TrySetResult();
            firstDone = null;
        }
    }

    private static async Task HandleOneAsync(Socket socket, DmaBufDescription received, DrmDevice render, DrmDevice vkms, HandleHighWater highWater)
    {
        DmaBuf buffer = received.Planes[0].Buffer;
        DmaBufIdentity obj = buffer.Identity;
        uint seed = Pattern.SeedOf(obj);
        if (Pattern.FirstMismatch(buffer, seed) is int word and >= 0)
        {
            Violations.Report($"peer: {obj}: word {word} of the sender's pattern is wrong");
        }

        using var onVgem = render.ImportDmaBuf(buffer);
        using var onVkms = vkms.ImportDmaBuf(buffer);
        highWater.Saw(onVgem);
        highWater.Saw(onVkms);
        using (var again = render.ExportDmaBuf(onVgem))
        {
            if (again.Identity != obj)
            {
                Violations.Report($"peer: {onVgem} exports {again.Identity}, not the received {obj}");
            }
        }

        DmaBuf back = vkms.ExportDmaBuf(onVkms, DmaBufExportFlags.ReadWrite);
        if (back.Identity != obj)
        {
            Violations.Report($"peer: {onVkms} exports {back.Identity}, not the received {obj}");
        }

        Pattern.Write(back, ~seed);
        using var reply = new DmaBufDescription(Soak.Width, Soak.Height, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier, [new DmaBufPlane(back, 0, Soak.Pitch)]);
        await socket.SendDmaBufAsync(reply);
    }
}
