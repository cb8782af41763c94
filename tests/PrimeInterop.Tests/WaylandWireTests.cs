using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Tests.Infrastructure;
using Wayland.Wire;
using WlShow;

namespace PrimeInterop.Tests;

/// <summary>
/// The sample wire library (samples/Wayland.Wire) on a socketpair, no kernel needed: its client against raw bytes as
/// libwayland frames them, its server against raw bytes from a hostile client, and its client and server against
/// each other.
/// </summary>
public sealed class WaylandWireTests
{
    [Fact]
    public void Opcodes_signatures_and_error_names_come_from_the_protocol_xml()
    {
        Assert.Equal(9, WlSurface.Requests.DamageBuffer);
        Assert.Equal(3, ZwpLinuxBufferParamsV1.Requests.CreateImmed);
        Assert.Equal(2, XdgWmBase.Requests.GetXdgSurface);
        Assert.Equal(0, WestonScreenshooter.Requests.Shoot);
        Assert.Equal(1, ZwlrScreencopyManagerV1.Requests.CaptureOutputRegion);
        Assert.Equal("out_of_bounds", ZwpLinuxBufferParamsV1.Interface.ErrorName(6));
        Assert.Equal(4u, ZwpLinuxDmabufV1.Version);
        WireMessage add = ZwpLinuxBufferParamsV1.Interface.Requests[ZwpLinuxBufferParamsV1.Requests.Add];
        Assert.Equal(["fd", "plane_idx", "offset", "stride", "modifier_hi", "modifier_lo"], add.Args.Select(a => a.Name));
        Assert.Equal(1, add.FdCount);
        Assert.True(WlCallback.Interface.Events[WlCallback.Events.Done].IsDestructor);
        Assert.Same(XdgToplevel.Interface, WireProtocols.Find("xdg_toplevel"));
        Assert.Null(WireProtocols.Find("no_such_interface"));
    }

    [Fact]
    public void A_request_is_framed_as_libwayland_frames_it()
    {
        using var pair = new SocketPair();
        using var client = WaylandClient.FromSocket(pair.A);
        var registry = WlDisplay.GetRegistry(client.Display);
        WaylandProxy compositor = WlRegistry.Bind(registry, 7, WlCompositor.Interface, 4);
        client.Flush();

        byte[] got = new byte[128];
        int n = pair.B.Receive(got);
        byte[] want =
        [
            .. Word(1), .. Word((12u << 16) | 1), .. Word(2), // wl_display.get_registry(new id 2)
            .. Word(2), .. Word((40u << 16) | 0), .. Word(7), .. Word(14), .. Encoding.ASCII.GetBytes("wl_compositor\0\0\0"), .. Word(4), .. Word(3),
        ];
        Assert.Equal(want, got[..n]);
        Assert.Equal(3u, compositor.Id);
        Assert.Equal(2, client.RequestsSent);
    }

    [Fact]
    public void A_display_error_becomes_an_exception_naming_the_object_and_the_code()
    {
        using var pair = new SocketPair();
        using var client = WaylandClient.FromSocket(pair.A);
        var registry = WlDisplay.GetRegistry(client.Display);
        var dmabuf = WlRegistry.Bind(registry, 1, ZwpLinuxDmabufV1.Interface, 3);
        var parameters = ZwpLinuxDmabufV1.CreateParams(dmabuf);
        Assert.Equal(4u, parameters.Id);
        pair.B.Send(Event(1, 0, [.. Word(4), .. Word(5), .. String("invalid width 0")]));

        var e = Assert.Throws<WaylandProtocolException>(() => client.Roundtrip());
        Assert.Equal("zwp_linux_buffer_params_v1@4", e.ObjectName);
        Assert.Equal(5u, e.Code);
        Assert.Equal("invalid_dimensions", e.CodeName);
        Assert.Equal("zwp_linux_buffer_params_v1@4: protocol error 5 (invalid_dimensions): invalid width 0", e.Message);
        Assert.Same(e, Assert.Throws<WaylandProtocolException>(() => client.Roundtrip())); // the connection is dead
    }

    [Fact]
    public void Events_split_across_reads_are_joined_and_a_string_overrunning_its_event_is_fatal()
    {
        using var pair = new SocketPair();
        using var client = WaylandClient.FromSocket(pair.A);
        var registry = new RegistrySpy();
        WlRegistry.Listen(WlDisplay.GetRegistry(client.Display), registry);
        client.Flush();

        byte[] e = Event(2, WlRegistry.Events.Global, [.. Word(1), .. String("wl_compositor"), .. Word(4)]);
        pair.B.Send(e.AsSpan(0, 10));
        client.Dispatch(DateTime.UtcNow.AddSeconds(5));
        Assert.Empty(registry.Names);
        pair.B.Send(e.AsSpan(10));
        client.Dispatch(DateTime.UtcNow.AddSeconds(5));
        Assert.Equal(["wl_compositor"], registry.Names);

        pair.B.Send(Event(2, WlRegistry.Events.Global, [.. Word(2), .. Word(1000), .. Word(0)]));
        var bad = Assert.Throws<WaylandWireException>(() => client.Dispatch(DateTime.UtcNow.AddSeconds(5)));
        Assert.Contains("wl_registry@2.global", bad.Message, StringComparison.Ordinal);
        Assert.Contains("overruns", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_silent_compositor_times_out_and_a_closed_one_is_reported()
    {
        using var pair = new SocketPair();
        using var client = WaylandClient.FromSocket(pair.A);
        client.Timeout = TimeSpan.FromMilliseconds(100);
        var t = Assert.Throws<TimeoutException>(() => client.Roundtrip("the test's round trip"));
        Assert.Contains("the test's round trip", t.Message, StringComparison.Ordinal);
        pair.B.Shutdown(SocketShutdown.Both);
        Assert.Throws<IOException>(() => client.Roundtrip());
    }

    [Fact]
    public void Fds_are_matched_to_fd_arguments_in_order_whether_they_come_with_an_earlier_or_a_later_chunk()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair())
        using (var server = new WaylandServer())
        {
            var sizes = new List<(int Size, long Length)>();
            server.AddGlobal(WlShm.Interface, 1, r => WlShm.Implement(r, new PoolRecorder(sizes)));
            server.AddClient(pair.B);
            using var a = SharedMemory.Create("a", 4096);
            using var b = SharedMemory.Create("b", 8192);
            using var c = SharedMemory.Create("c", 12288);

            // get_registry(2), bind(1, wl_shm, 1, 3), then create_pool(4, fd, size) three times.
            byte[] setup = [.. Message(1, 1, Word(2)), .. Message(2, 0, [.. Word(1), .. String("wl_shm"), .. Word(1), .. Word(3)])];
            byte[] poolA = Message(3, 0, [.. Word(4), .. Word(4096)]);
            byte[] poolB = Message(3, 0, [.. Word(5), .. Word(8192)]);
            byte[] poolC = Message(3, 0, [.. Word(6), .. Word(12288)]);
            // a and b travel with the first chunk, before poolB's bytes; c travels after poolC's bytes.
            pair.A.SendWithFds([.. setup, .. poolA], a, b);
            Pump(server);
            pair.A.Send(poolB);
            Pump(server);
            pair.A.Send(poolC);
            Pump(server);
            Assert.Equal([(4096, 4096L), (8192, 8192L)], sizes); // poolC waits for its fd
            pair.A.SendWithFds(Message(1, 0, Word(7)), c); // wl_display.sync; c arrives with it
            Pump(server);
            Assert.Equal([(4096, 4096L), (8192, 8192L), (12288, 12288L)], sizes);
            Assert.False(server.Clients[0].IsClosed, server.Clients[0].CloseReason);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_message_whose_fd_never_comes_costs_its_client_once_the_input_buffer_is_full()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair())
        using (var server = new WaylandServer())
        {
            server.AddGlobal(WlShm.Interface, 1, r => WlShm.Implement(r, new PoolRecorder([])));
            WaylandServerClient client = server.AddClient(pair.B);
            byte[] setup = [.. Message(1, 1, Word(2)), .. Message(2, 0, [.. Word(1), .. String("wl_shm"), .. Word(1), .. Word(3)])];
            pair.A.Send([.. setup, .. Message(3, 0, [.. Word(4), .. Word(4096)])]); // create_pool, no fd
            byte[] syncs = [.. Enumerable.Range(0, 8000).SelectMany(i => Message(1, 0, Word(5 + (uint)i)))];
            pair.A.Send(syncs); // 96,000 bytes that wait behind it
            for (int i = 0; i < 20 && !client.IsClosed; i++)
            {
                server.Dispatch(TimeSpan.FromMilliseconds(50));
            }

            Assert.True(client.IsClosed);
            Assert.Contains("waits for fds that did not come", client.CloseReason, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_client_that_does_not_read_does_not_stall_the_server_and_is_cut_off_once_a_mebibyte_waits_for_it()
    {
        using var oracle = new LeakOracle();
        using (var deaf = new SocketPair())
        using (var good = new SocketPair())
        using (var server = new WaylandServer())
        {
            WaylandServerClient victim = server.AddClient(deaf.B);
            server.AddClient(good.B);
            // 12-byte events the deaf client never reads: its socket buffer fills, then the server keeps the rest, up to
            // WireConnection.MaxPendingOutput, without waiting; a flush after that cuts the client off.
            int sent = 0;
            while (!victim.IsClosed && sent < 200_000)
            {
                WlDisplay.SendDeleteId(victim.Display, 3);
                if (++sent % 1000 == 0)
                {
                    server.FlushClients();
                }
            }

            Assert.True(victim.IsClosed, $"{sent} events queued and the client is still served");
            Assert.Contains("the peer does not read", victim.CloseReason, StringComparison.Ordinal);
            Assert.InRange(sent, WireConnection.MaxPendingOutput / 12, 2 * WireConnection.MaxPendingOutput / 12);

            AssertStillServed(server, good.A);
        }

        oracle.Verify();
    }

    [Fact]
    public void Receiving_and_dispatching_requests_without_fds_allocates_nothing()
    {
        using var pair = new SocketPair();
        using var server = new WaylandServer();
        var surfaces = new DamageCounter();
        server.AddGlobal(WlCompositor.Interface, 1, r => WlCompositor.Implement(r, surfaces));
        WaylandServerClient client = server.AddClient(pair.B);
        // get_registry (2), bind wl_compositor (3), create_surface (4); then batches of wl_surface.damage.
        pair.A.Send([.. Message(1, 1, Word(2)), .. Message(2, 0, [.. Word(1), .. String("wl_compositor"), .. Word(1), .. Word(3)]), .. Message(3, 0, Word(4))]);
        client.ReceiveAndDispatch();
        byte[] damages = [.. Enumerable.Range(0, 100).SelectMany(_ => Message(4, WlSurface.Requests.Damage, [.. Word(0), .. Word(0), .. Word(64), .. Word(64)]))];
        long allocated = 0;
        for (int round = 0; round < 5; round++)
        {
            pair.A.Send(damages);
            long before = GC.GetAllocatedBytesForCurrentThread();
            client.ReceiveAndDispatch();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before; // the last round's: the first ones warm up
            server.FlushClients();
            byte[] events = new byte[4096];
            while (pair.A.Available > 0)
            {
                pair.A.Receive(events);
            }
        }

        Assert.False(client.IsClosed, client.CloseReason);
        Assert.Equal(500, surfaces.Damages);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void An_event_with_an_fd_for_an_object_the_client_destroyed_is_dropped_and_its_fd_closed()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair())
        using (var client = WaylandClient.FromSocket(pair.A))
        {
            var registry = WlDisplay.GetRegistry(client.Display);
            var dmabuf = WlRegistry.Bind(registry, 1, ZwpLinuxDmabufV1.Interface, 4);
            var feedback = ZwpLinuxDmabufV1.GetDefaultFeedback(dmabuf); // id 4
            var seen = new DmaBufFeedback();
            ZwpLinuxDmabufFeedbackV1.Listen(feedback, seen);
            ZwpLinuxDmabufFeedbackV1.Destroy(feedback);
            client.Flush();
            using (var table = SharedMemory.Create("table", 16))
            {
                // The compositor sent format_table before it saw the destroy; then delete_id and a sync's done.
                pair.B.SendWithFds(Event(4, ZwpLinuxDmabufFeedbackV1.Events.FormatTable, [.. Word(16)]), table);
            }

            pair.B.Send([.. Event(1, WlDisplay.Events.DeleteId, Word(4)), .. Event(5, WlCallback.Events.Done, Word(0))]);
            var done = new DoneSpy();
            WlCallback.Listen(WlDisplay.Sync(client.Display), done); // id 5
            client.WaitFor(() => done.Done, "the sync");
            Assert.Empty(seen.Table);
            Assert.Null(client.Find(4));
            Assert.Equal(0, client.Wire.QueuedFds);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_client_and_a_server_of_the_library_talk_through_registry_sync_server_ids_fds_and_delete_id()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair())
        using (var server = new WaylandServer())
        {
            var table = new List<FormatModifier> { new(0x34325258, 0), new(0x34325241, DmaBufDescription.InvalidModifier) };
            using var tableFd = DmaBufFormatTable.Create(table, out uint tableSize);
            WaylandServerClient? serverSide = null;
            server.AddGlobal(ZwpLinuxDmabufV1.Interface, 4, r => ZwpLinuxDmabufV1.Implement(r, new DmaBufServer(tableFd, tableSize)));
            var thread = new Thread(() =>
            {
                serverSide = server.AddClient(pair.B);
                while (!serverSide.IsClosed)
                {
                    server.Dispatch(TimeSpan.FromMilliseconds(20));
                }
            });
            thread.Start();

            using (var client = WaylandClient.FromSocket(pair.A))
            {
                var registry = WaylandRegistry.Load(client);
                Assert.Equal(4u, registry.Globals["zwp_linux_dmabuf_v1"].Version);
                WaylandProxy dmabuf = registry.Bind(ZwpLinuxDmabufV1.Interface, 4);
                var feedback = new DmaBufFeedback();
                ZwpLinuxDmabufFeedbackV1.Listen(ZwpLinuxDmabufV1.GetDefaultFeedback(dmabuf), feedback);
                client.WaitFor(() => feedback.IsDone, "the feedback");
                Assert.Equal(table, feedback.Table); // the server's sealed memfd, mapped read-only here
                Assert.Equal(new DrmDeviceNumber(226, 128), feedback.MainDevice);
                Assert.Equal([table[1]], feedback.Tranches.Single().Formats);

                // create(): the server answers with created(new_id), an id from its own range.
                WaylandProxy parameters = ZwpLinuxDmabufV1.CreateParams(dmabuf);
                var created = new CreatedSpy();
                ZwpLinuxBufferParamsV1.Listen(parameters, created);
                using (var fd = SharedMemory.Create("plane", 64))
                {
                    ZwpLinuxBufferParamsV1.Add(parameters, fd, 0, 0, 64, 0, 0);
                }

                ZwpLinuxBufferParamsV1.Create(parameters, 4, 4, 0x34325258, 0);
                client.WaitFor(() => created.Buffer is not null, "created");
                Assert.True(created.Buffer!.Id >= WaylandClient.ServerIdStart, $"{created.Buffer} has a client-side id");
                ZwpLinuxBufferParamsV1.Destroy(parameters);
                client.Roundtrip();
                Assert.Null(client.Find(parameters.Id)); // delete_id arrived
                Assert.Equal(1, DmaBufServer.FdsReceived);
            }

            thread.Join();
            Assert.Equal("the client disconnected", serverSide!.CloseReason);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_server_listening_on_a_socket_path_serves_a_client_that_connects_to_it()
    {
        string dir = Directory.CreateTempSubdirectory("wire-").FullName;
        try
        {
            using var server = WaylandServer.Listen(Path.Combine(dir, "wayland-test"));
            server.AddGlobal(WlCompositor.Interface, 4, _ => { });
            Exception? failed = null;
            string? seen = null;
            var client = new Thread(() =>
            {
                try
                {
                    using var c = WaylandClient.Connect(server.SocketPath!);
                    seen = string.Join(",", WaylandRegistry.Load(c).Globals.Keys);
                }
                catch (Exception e) when (e is IOException or TimeoutException or SocketException)
                {
                    failed = e;
                }
            });
            client.Start();
            while (client.IsAlive)
            {
                server.Dispatch(TimeSpan.FromMilliseconds(20));
            }

            Assert.Null(failed);
            Assert.Equal("wl_compositor", seen);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(15u, 16L, "not a whole number of 16-byte entries")]
    [InlineData(32u, 16L, "32 bytes announced, the file has 16")]
    [InlineData(16u * 65537, 16L, "at most 65536")]
    public void A_format_table_that_does_not_fit_its_file_is_refused(uint size, long fileSize, string message)
    {
        using var oracle = new LeakOracle();
        using (var fd = SharedMemory.Create("table", fileSize))
        {
            var e = Assert.Throws<InvalidDataException>(() => DmaBufFormatTable.Read(fd, size));
            Assert.Contains(message, e.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_sealed_table_is_mapped_and_an_unsealed_one_read_and_both_give_the_entries()
    {
        FormatModifier[] entries = [new(0x34325258, 0), new(0x3231564e, 0x0100000000000002)];
        using var sealedTable = DmaBufFormatTable.Create(entries, out uint size);
        Assert.Equal(32u, size);
        Assert.Equal(entries, DmaBufFormatTable.Read(sealedTable, size));
        Assert.Throws<UnauthorizedAccessException>(() => RandomAccess.Write(sealedTable, new byte[1], 0)); // F_SEAL_WRITE: EPERM
        using var plain = SharedMemory.Create("plain", 32);
        byte[] bytes = new byte[32];
        RandomAccess.Read(sealedTable, bytes, 0);
        RandomAccess.Write(plain, bytes, 0);
        Assert.Equal(entries, DmaBufFormatTable.Read(plain, size));
    }

    [Theory]
    [InlineData("unknown object", "invalid object 9", 0u)]
    [InlineData("unknown opcode", "invalid method 7, object wl_display@1", 1u)]
    [InlineData("new id with a gap", "invalid new id 9", 0u)]
    [InlineData("object of another interface", "is not a wl_surface", 0u)]
    [InlineData("string without its NUL", "not NUL-terminated", 1u)]
    [InlineData("short message", "an argument at byte 0 is missing", 1u)]
    [InlineData("malformed header", "malformed message header", 1u)]
    public void A_hostile_client_gets_the_protocol_error_and_is_cut_off_while_the_other_client_is_served(string what, string message, uint code)
    {
        using var oracle = new LeakOracle();
        using (var bad = new SocketPair())
        using (var good = new SocketPair())
        using (var server = new WaylandServer())
        {
            server.AddGlobal(XdgWmBase.Interface, 1, r => XdgWmBase.Implement(r, new NothingXdg()));
            WaylandServerClient victim = server.AddClient(bad.B);
            server.AddClient(good.B);
            using var fd = SharedMemory.Create("stray", 4096);
            // Binds xdg_wm_base as 3 (registry 2), with a stray fd queued, then the bad request.
            bad.A.SendWithFds([.. Message(1, 1, Word(2)), .. Message(2, 0, [.. Word(1), .. String("xdg_wm_base"), .. Word(1), .. Word(3)])], fd);
            bad.A.Send(what switch
            {
                "unknown object" => Message(9, 0, []),
                "unknown opcode" => Message(1, 7, []),
                "new id with a gap" => Message(1, 0, Word(9)),
                "object of another interface" => Message(3, XdgWmBase.Requests.GetXdgSurface, [.. Word(4), .. Word(2)]),
                "string without its NUL" => Message(2, 0, [.. Word(1), .. Word(4), .. Encoding.ASCII.GetBytes("xdg_"), .. Word(1), .. Word(4)]),
                "short message" => Message(1, 0, []),
                _ => [.. Word(1), .. Word((6u << 16) | 0)],
            });
            Pump(server);

            Assert.True(victim.IsClosed);
            Assert.Contains(message, victim.CloseReason, StringComparison.Ordinal);
            byte[] reply = new byte[4096];
            int n = bad.A.Receive(reply);
            int error = FindEvent(reply.AsSpan(0, n), 1, WlDisplay.Events.Error);
            Assert.True(error >= 0, "no wl_display.error was sent");
            Assert.Equal(code, BinaryPrimitives.ReadUInt32LittleEndian(reply.AsSpan(error + 12)));
            Assert.Equal(0, bad.A.Receive(reply)); // then the connection was closed

            AssertStillServed(server, good.A);
        }

        oracle.Verify();
    }

    /// <summary>The client on <paramref name="socket"/> gets a round trip answered (the server dispatched here meanwhile), and it is the only one left.</summary>
    private static void AssertStillServed(WaylandServer server, Socket socket)
    {
        using var other = WaylandClient.FromSocket(socket);
        Exception? failed = null;
        var roundtrip = new Thread(() =>
        {
            try
            {
                other.Roundtrip();
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                failed = e;
            }
        });
        roundtrip.Start();
        while (roundtrip.IsAlive)
        {
            server.Dispatch(TimeSpan.FromMilliseconds(20));
        }

        Assert.Null(failed);
        Assert.Single(server.Clients);
    }

    private static void Pump(WaylandServer server)
    {
        for (int i = 0; i < 3; i++)
        {
            server.Dispatch(TimeSpan.FromMilliseconds(50));
        }
    }

    private static int FindEvent(ReadOnlySpan<byte> bytes, uint id, ushort opcode)
    {
        for (int at = 0; at + 8 <= bytes.Length;)
        {
            uint word = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(at + 4)..]);
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes[at..]) == id && (ushort)word == opcode)
            {
                return at;
            }

            at += (int)(word >> 16);
        }

        return -1;
    }

    internal static byte[] Word(uint v)
    {
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    internal static byte[] String(string s)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(s + "\0");
        byte[] padded = new byte[(utf8.Length + 3) & ~3];
        utf8.CopyTo(padded, 0);
        return [.. Word((uint)utf8.Length), .. padded];
    }

    internal static byte[] Event(uint id, ushort opcode, byte[] args) => Message(id, opcode, args);

    internal static byte[] Message(uint id, ushort opcode, byte[] args) =>
        [.. Word(id), .. Word(((uint)(8 + args.Length) << 16) | opcode), .. args];

    private sealed class RegistrySpy : WlRegistry.IEvents
    {
        public List<string> Names { get; } = [];

        void WlRegistry.IEvents.Global(WaylandProxy self, uint name, string @interface, uint version) => Names.Add(@interface);
    }

    private sealed class DoneSpy : WlCallback.IEvents
    {
        public bool Done { get; private set; }

        void WlCallback.IEvents.Done(WaylandProxy self, uint callbackData) => Done = true;
    }

    private sealed class CreatedSpy : ZwpLinuxBufferParamsV1.IEvents
    {
        public WaylandProxy? Buffer { get; private set; }

        void ZwpLinuxBufferParamsV1.IEvents.Created(WaylandProxy self, WaylandProxy buffer) => Buffer = buffer;
    }

    private sealed class PoolRecorder(List<(int, long)> sizes) : WlShm.IRequests
    {
        void WlShm.IRequests.CreatePool(WaylandResource self, WaylandResource id, SafeFileHandle fd, int size)
        {
            using (fd)
            {
                sizes.Add((size, RandomAccess.GetLength(fd)));
            }

            WlShmPool.Implement(id, new NothingPool());
        }
    }

    private sealed class NothingPool : WlShmPool.IRequests;

    private sealed class NothingXdg : XdgWmBase.IRequests;

    private sealed class DamageCounter : WlCompositor.IRequests, WlSurface.IRequests
    {
        public int Damages { get; private set; }

        void WlCompositor.IRequests.CreateSurface(WaylandResource self, WaylandResource id) => WlSurface.Implement(id, this);

        void WlSurface.IRequests.Damage(WaylandResource self, int x, int y, int width, int height) => Damages++;
    }

    private sealed class DmaBufServer(SafeFileHandle table, uint size) : ZwpLinuxDmabufV1.IRequests, ZwpLinuxBufferParamsV1.IRequests, ZwpLinuxDmabufFeedbackV1.IRequests
    {
        public static int FdsReceived { get; private set; }

        void ZwpLinuxDmabufV1.IRequests.GetDefaultFeedback(WaylandResource self, WaylandResource id)
        {
            ZwpLinuxDmabufFeedbackV1.Implement(id, this);
            ZwpLinuxDmabufFeedbackV1.SendFormatTable(id, table, size);
            ZwpLinuxDmabufFeedbackV1.SendMainDevice(id, new DrmDeviceNumber(226, 128).ToWire());
            ZwpLinuxDmabufFeedbackV1.SendTrancheTargetDevice(id, new DrmDeviceNumber(226, 128).ToWire());
            ZwpLinuxDmabufFeedbackV1.SendTrancheFormats(id, [1, 0, 9, 0]); // index 9 is beyond the table: dropped
            ZwpLinuxDmabufFeedbackV1.SendTrancheDone(id);
            ZwpLinuxDmabufFeedbackV1.SendDone(id);
        }

        void ZwpLinuxDmabufV1.IRequests.CreateParams(WaylandResource self, WaylandResource paramsId) => ZwpLinuxBufferParamsV1.Implement(paramsId, this);

        void ZwpLinuxBufferParamsV1.IRequests.Add(WaylandResource self, SafeFileHandle fd, uint planeIdx, uint offset, uint stride, uint modifierHi, uint modifierLo)
        {
            fd.Dispose();
            FdsReceived++;
        }

        void ZwpLinuxBufferParamsV1.IRequests.Create(WaylandResource self, int width, int height, uint format, uint flags)
        {
            WaylandResource buffer = ZwpLinuxBufferParamsV1.SendCreated(self);
            WlBuffer.Implement(buffer, new NothingBuffer());
        }
    }

    private sealed class NothingBuffer : WlBuffer.IRequests;
}
