using System.Buffers.Binary;
using System.Text;
using PrimeInterop.Tests.Infrastructure;
using WlShow;

namespace PrimeInterop.Tests;

/// <summary>The sample's Wayland framing against a fake compositor on a socketpair (no kernel needed).</summary>
public sealed class WaylandWireTests
{
    [Fact]
    public void A_request_is_framed_as_libwayland_frames_it()
    {
        using var pair = new SocketPair();
        using var connection = WaylandConnection.FromSocket(pair.A, DmaBufClient.ErrorName);
        var registry = connection.NewObject("wl_registry", 1);
        var compositor = connection.NewObject("wl_compositor", 4);
        // wl_registry.bind(name 7, "wl_compositor", version 4, id)
        connection.Send(registry, 0, new WireWriter().Uint(7).String("wl_compositor").Uint(4).NewId(compositor));

        byte[] got = new byte[64];
        int n = pair.B.Receive(got);
        byte[] want = [.. Word(2), .. Word((40u << 16) | 0), .. Word(7), .. Word(14), .. Encoding.ASCII.GetBytes("wl_compositor\0\0\0"), .. Word(4), .. Word(3)];
        Assert.Equal(want, got[..n]);
        Assert.Equal(1, connection.RequestsSent);
    }

    [Fact]
    public void A_display_error_becomes_an_exception_naming_the_object_and_the_code()
    {
        using var pair = new SocketPair();
        using var connection = WaylandConnection.FromSocket(pair.A, DmaBufClient.ErrorName);
        var dmabuf = connection.NewObject("zwp_linux_dmabuf_v1", 3);
        var parameters = connection.NewObject("zwp_linux_buffer_params_v1", 3);
        Assert.Equal(3u, parameters.Id);
        _ = dmabuf;
        pair.B.Send(Event(1, 0, [.. Word(3), .. Word(5), .. String("invalid width 0")]));

        var e = Assert.Throws<WaylandProtocolException>(() => connection.Roundtrip());
        Assert.Equal("zwp_linux_buffer_params_v1@3", e.ObjectName);
        Assert.Equal(5u, e.Code);
        Assert.Equal("invalid_dimensions", e.CodeName);
        Assert.Equal("zwp_linux_buffer_params_v1@3: protocol error 5 (invalid_dimensions): invalid width 0", e.Message);
    }

    [Fact]
    public void Events_split_across_reads_and_a_string_overrunning_its_event_are_handled()
    {
        using var pair = new SocketPair();
        using var connection = WaylandConnection.FromSocket(pair.A, DmaBufClient.ErrorName);
        var output = connection.NewObject("wl_output", 2);
        var seen = new List<string?>();
        output.OnEvent = (_, args) => seen.Add(args.String());

        byte[] e = Event(output.Id, 0, String("weston"));
        pair.B.Send(e.AsSpan(0, 10));
        connection.Dispatch(DateTime.UtcNow.AddSeconds(5));
        Assert.Empty(seen);
        pair.B.Send(e.AsSpan(10));
        connection.Dispatch(DateTime.UtcNow.AddSeconds(5));
        Assert.Equal(["weston"], seen);

        pair.B.Send(Event(output.Id, 0, [.. Word(1000), .. Word(0)]));
        Assert.Throws<InvalidDataException>(() => connection.Dispatch(DateTime.UtcNow.AddSeconds(5)));
    }

    [Fact]
    public void A_silent_compositor_times_out_and_a_closed_one_is_reported()
    {
        using var pair = new SocketPair();
        using var connection = WaylandConnection.FromSocket(pair.A, DmaBufClient.ErrorName);
        connection.Timeout = TimeSpan.FromMilliseconds(100);
        var t = Assert.Throws<TimeoutException>(() => connection.Roundtrip("the test's round trip"));
        Assert.Contains("the test's round trip", t.Message, StringComparison.Ordinal);
        pair.B.Shutdown(System.Net.Sockets.SocketShutdown.Both);
        Assert.Throws<IOException>(() => connection.Roundtrip());
    }

    private static byte[] Word(uint v)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    private static byte[] String(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s + "\0");
        byte[] padded = new byte[(utf8.Length + 3) & ~3];
        utf8.CopyTo(padded, 0);
        return [.. Word((uint)utf8.Length), .. padded];
    }

    private static byte[] Event(uint id, ushort opcode, byte[] args) =>
        [.. Word(id), .. Word(((uint)(8 + args.Length) << 16) | opcode), .. args];
}

/// <summary>
/// The client's present, frame callback and screenshooter path against a real weston 10 on any machine: headless with
/// GL (llvmpipe), an shm buffer instead of a dma-buf, so no DRM device is needed. The dma-buf path runs in the rig.
/// </summary>
public sealed class WestonShmHostTests
{
    [Fact]
    public void Weston_shows_an_shm_buffer_and_its_screenshooter_returns_the_exact_pixels()
    {
        if (!File.Exists("/usr/bin/weston"))
        {
            Assert.Skip("weston is not installed (tests/rig/rig.sh prereqs installs it)");
        }

        using var weston = WestonProcess.Start(WestonBackend.Headless, width: 64, height: 48);
        using var oracle = new LeakOracle();
        using (var client = DmaBufClient.Connect(weston.SocketPath, TimeSpan.FromSeconds(30)))
        {
            Assert.Equal((64, 48), (client.OutputWidth, client.OutputHeight));
            Assert.StartsWith("weston (pid ", client.CompositorName, StringComparison.Ordinal);
            byte[] pixels = new byte[64 * 48 * 4];
            TestImage.Fill(pixels, 64, 48, 64 * 4, 7);
            var buffer = client.CreateShmBuffer(pixels, out var memory);
            using (memory)
            {
                client.Present(buffer, 64, 48);
                var (bad, first) = TestImage.Compare(client.TakeScreenshot(), 64, 48, 7);
                Assert.True(bad == 0, $"{bad} pixels differ; first {first}");
            }
        }

        oracle.Verify();
    }
}
