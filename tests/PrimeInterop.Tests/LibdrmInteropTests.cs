using System.Diagnostics;
using System.Net.Sockets;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Both directions against native/prime-peer, a C program using libdrm's drmPrimeHandleToFD/drmPrimeFDToHandle,
/// over a UNIX stream socket in PrimeInterop's description wire format.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class LibdrmInteropTests
{
    private const uint Seed = 0x5eed1234;

    private static (Socket Listener, string Path) Listen()
    {
        string path = Path.Combine(Path.GetTempPath(), $"prime-peer-{Guid.NewGuid():N}.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        return (listener, path);
    }

    private static Process StartPeer(string mode, string socketPath) =>
        ChildProcess.Start(Repo.NativeProgram("prime-peer"), [mode, socketPath, $"0x{Seed:x}"]);

    private static (string Out, string Err) Finish(Process peer)
    {
        var result = ChildProcess.Finish(peer, TimeSpan.FromSeconds(30)).AssertExitCode();
        return (result.Out, result.Err);
    }

    [Fact]
    public async Task A_buffer_exported_by_libdrm_is_received_imported_and_verified_in_CSharp()
    {
        KernelEnv.RequireVgem();
        var ct = TestContext.Current.CancellationToken;
        var (listener, path) = Listen();
        using (listener)
        using (var peer = StartPeer("send", path))
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var connection = await listener.AcceptAsync(ct);
            using (var description = await connection.ReceiveDmaBufAsync(ct))
            {
                Assert.NotNull(description);
                Assert.Equal((64u, 64u, DrmFourcc.Xrgb8888, 256u), (description.Width, description.Height, description.Format, description.Planes[0].Stride));
                using var imported = render.ImportBuffer(description);
                Assert.NotEqual(0u, imported.Handles[0].Value);
                using var viaImporter = render.ExportDmaBuf(imported.Handles[0]);
                Assert.Equal(description.Planes[0].Buffer.Identity, viaImporter.Identity);
                using var mapping = viaImporter.Map(DmaBufAccess.Read);
                using var cpu = mapping.BeginAccess(DmaBufAccess.Read);
                Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span[..(256 * 64)], Seed));
            }

            connection.Send("k"u8);
            var (stdout, _) = Finish(peer);
            Assert.Contains("drmPrimeHandleToFD", stdout, StringComparison.Ordinal);
        }

        File.Delete(path);
    }

    [Fact]
    public async Task A_buffer_exported_by_CSharp_is_imported_and_verified_by_libdrm()
    {
        KernelEnv.RequireVgem();
        var ct = TestContext.Current.CancellationToken;
        var (listener, path) = Listen();
        using (listener)
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var peer = StartPeer("recv", path))
        {
            using (var map = dumb.Map())
            using (var cpu = map.BeginAccess())
            {
                Pattern.Fill(cpu.Span, Seed);
            }

            using var connection = await listener.AcceptAsync(ct);
            using (var description = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
                [new DmaBufPlane(card.ExportDmaBuf(dumb.Handle), 0, dumb.Pitch)]))
            {
                await connection.SendDmaBufAsync(description, ct);
            }

            byte[] ack = new byte[1];
            Assert.Equal(1, await connection.ReceiveAsync(ack, SocketFlags.None, ct));
            var (stdout, _) = Finish(peer);
            Assert.Contains("pattern verified", stdout, StringComparison.Ordinal);
        }

        File.Delete(path);
    }
}
