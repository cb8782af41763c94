using System.Diagnostics;
using System.Net.Sockets;
using PrimeInterop;

namespace PrimeCtl.Commands;

/// <summary>What the importing side found.</summary>
internal sealed record ImportReport(DmaBufDescription Description, uint Handle, int Objects, long Pixels, long Mismatches, string? Png, TimeSpan? FenceWait);

/// <summary>Receives a buffer, imports it, verifies the test image: shared by `import` and `demo`.</summary>
internal static class Importer
{
    /// <summary>Longer than vgem's own 10-second fence timeout: a fence that never signals still ends the wait.</summary>
    private static readonly TimeSpan FenceTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Connects first, so a missing exporter is reported before any device is opened.</summary>
    public static async Task<Socket> ConnectAsync(string socketPath, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"cannot connect to an exporter on {socketPath}: {e.Message} (is `primectl export` running?)", e);
        }
    }

    public static async Task<ImportReport> ReceiveAndVerifyAsync(Socket socket, string socketPath, DrmDevice device, uint seed, string? pngPath, CancellationToken ct)
    {
        var description = await socket.ReceiveDmaBufAsync(ct)
            ?? throw new IOException($"the exporter on {socketPath} closed the connection without sending a buffer");
        try
        {
            var plane = description.Planes[0];
            Console.WriteLine($"import: received {description.Width}x{description.Height} {description.Format}, modifier 0x{description.Modifier:x}, " +
                $"{description.Planes.Count} plane(s): {plane.Buffer.Identity}, {plane.Buffer.Size} bytes, stride {plane.Stride}, name '{plane.Buffer.Name}'");

            // A reader waits until the buffer's writers are done (POLLIN on the dma-buf), without blocking a thread.
            var clock = Stopwatch.StartNew();
            TimeSpan? waited = null;
            if (!plane.Buffer.IsReady(DmaBufAccess.Read))
            {
                Console.WriteLine("import: the buffer has a pending write fence; awaiting readiness before reading");
                await plane.Buffer.WaitReadyAsync(DmaBufAccess.Read, FenceTimeout, ct);
                waited = clock.Elapsed;
                Console.WriteLine($"import: the write fence signalled; waited {waited.Value.TotalMilliseconds:F0} ms");
            }
            else
            {
                Console.WriteLine("import: no pending write fence; the buffer is ready to read");
            }

            using var imported = device.ImportBuffer(description);
            Console.WriteLine($"import: imported on {device.Path} ({device.Version}) as GEM handle {imported.Handles[0].Value} ({imported.ObjectCount} buffer object)");

            if (description.Format != DrmFourcc.Xrgb8888)
            {
                throw new InvalidDataException($"expected an XR24 test image, got {description.Format}");
            }

            long mismatches;
            using (var mapping = plane.Buffer.Map(DmaBufAccess.Read))
            using (var cpu = mapping.BeginAccess(DmaBufAccess.Read))
            {
                var pixels = cpu.Span[(int)plane.Offset..];
                mismatches = TestImage.CountMismatches(pixels, description.Width, description.Height, plane.Stride, seed);
                if (pngPath is not null)
                {
                    PngWriter.WriteXrgb8888(pngPath, pixels, description.Width, description.Height, plane.Stride);
                }
            }

            long total = (long)description.Width * description.Height;
            Console.WriteLine(mismatches == 0
                ? $"import: test image verified: all {total} pixels as expected"
                : $"import: test image MISMATCH: {mismatches} of {total} pixels differ (seed {seed}?)");
            if (pngPath is not null)
            {
                Console.WriteLine($"import: wrote the received pixels to {Path.GetFullPath(pngPath)}");
            }

            await socket.SendAsync(new byte[] { 1 }, SocketFlags.None, ct); // done: the exporter may go
            return new ImportReport(description, imported.Handles[0].Value, imported.ObjectCount, total, mismatches, pngPath, waited);
        }
        catch
        {
            description.Dispose();
            throw;
        }
    }
}
