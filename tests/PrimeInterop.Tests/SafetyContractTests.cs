using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mono.Unix.Native;
using PrimeInterop.Hosting;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Issue 7's holes against the real kernel: use after unmap, disposed devices, record boundaries, overflowing
/// sizes, abandoned framebuffers, probing without opening, the hosting factory. Each test names its hole; the
/// note (notes/issue-7a.md) says how each failed before.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class SafetyContractTests
{
    private static unsafe IntPtr AddressOf(Span<byte> span) => (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));

    /// <summary>True when a mapping starts at <paramref name="address"/> in /proc/self/maps.</summary>
    internal static bool IsMapped(IntPtr address) =>
        File.ReadLines("/proc/self/maps").Any(l => ulong.Parse(l.AsSpan(0, l.IndexOf('-')), NumberStyles.HexNumber, CultureInfo.InvariantCulture) == (ulong)address);

    private static void CollectEverything()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    // Hole 1b: disposing a mapping while a CPU-access scope is open left the span dangling and SYNC_END unsent.
    [Fact]
    public void Disposing_a_mapping_inside_an_access_scope_unmaps_only_after_the_scope_sent_SYNC_END()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            var mapping = dmaBuf.Map(DmaBufAccess.ReadWrite);
            IntPtr address;
            using (var cpu = mapping.BeginAccess(DmaBufAccess.Write))
            {
                address = AddressOf(cpu.Span);
                mapping.Dispose();
                Assert.True(IsMapped(address), "the mapping went away under an open scope");
                Pattern.Fill(cpu.Span, 0x5eed); // before: unmapped memory, SIGSEGV
                Assert.Throws<ObjectDisposedException>(() => mapping.BeginAccess(DmaBufAccess.Read));
            } // SYNC_END; before: ObjectDisposedException from Dispose, and SYNC_END never sent

            Assert.False(IsMapped(address), "the last scope's end did not unmap");
            using var again = dmaBuf.Map(DmaBufAccess.Read);
            using var read = again.BeginAccess(DmaBufAccess.Read);
            Assert.Equal(-1, Pattern.FirstMismatch(read.Span, 0x5eed));
        }

        oracle.Verify(); // the mapping's reference on the dma-buf went with it
    }

    // Hole 1a: Fill(dumb.Map().Span) crashed when a GC finalized the unreferenced mapping under the span.
    [Fact]
    public void A_mapping_nobody_references_stays_mapped_while_its_scope_is_open_even_across_a_GC()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            IntPtr address = FillThroughAnUnreferencedMapping(dumb);
            CollectEverything(); // now nothing holds the mapping: its finalizer unmaps it
            Assert.False(IsMapped(address), "a forgotten mapping was not unmapped by its finalizer");
            using var map = dumb.Map();
            using var check = map.BeginAccess();
            Assert.Equal(-1, Pattern.FirstMismatch(check.Span, 0xfeed));
        }

        oracle.Verify();
    }

    /// <summary>In its own frame, so no stack slot of the caller keeps the scope's mapping reachable afterwards.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IntPtr FillThroughAnUnreferencedMapping(DumbBuffer dumb)
    {
        using var cpu = dumb.Map().BeginAccess(); // the DumbBufferMapping itself is garbage from here on
        IntPtr address = AddressOf(cpu.Span);
        FillAfterCollecting(cpu.Span, address);
        return address;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void FillAfterCollecting(Span<byte> span, IntPtr address)
    {
        CollectEverything();
        Assert.True(IsMapped(address), "a GC unmapped memory a span still points at");
        Pattern.Fill(span, 0xfeed);
    }

    // Hole 1c: a 4 GiB dumb buffer mapped, then the span cast threw after SYNC_START.
    [Fact]
    public void Mappings_over_2_GiB_are_refused_at_Map_before_any_syscall_and_windows_work()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var big = card.CreateDumbBuffer(32768, 24576, 32)) // 3 GiB of shmem, never mapped: nothing is allocated
        using (var small = card.CreateDumbBuffer(64, 256, 32))    // 64 KiB, for a window
        {
            oracle.ExpectClosedAtEnd(big.Handle);
            oracle.ExpectClosedAtEnd(small.Handle);
            Assert.Equal(3L << 30, (long)big.Size);
            var e = Assert.Throws<NotSupportedException>(() => big.Map()); // before: mmap'ed 3 GiB (and vgem pins every page)
            Assert.Contains("2147483647", e.Message, StringComparison.Ordinal);
            using var dmaBuf = card.ExportDmaBuf(big.Handle, DmaBufExportFlags.ReadWrite);
            var a = Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.ReadWrite));
            Assert.Contains("windows", a.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, 0, (2L << 30) + 4096));

            // A window (offset, length) of a dma-buf: what a larger buffer is mapped in.
            using var smallBuf = card.ExportDmaBuf(small.Handle, DmaBufExportFlags.ReadWrite);
            using var window = smallBuf.Map(DmaBufAccess.ReadWrite, 32768, 8192);
            using var cpu = window.BeginAccess(DmaBufAccess.ReadWrite);
            Assert.Equal(8192, cpu.Span.Length);
            Pattern.Fill(cpu.Span, 3);
        }

        oracle.Verify();
    }

    // Holes 2 and 3: a disposed device stops; its live handles keep working; a disposed handle has no number.
    [Fact]
    public void A_disposed_device_refuses_device_operations_while_its_live_handles_keep_working()
    {
        using var oracle = new LeakOracle();
        var card = KernelEnv.OpenVgemCard();
        var render = KernelEnv.OpenVgemRender();
        Assert.Equal("vgem", render.Version.Name); // cached before the dispose: still refused after it
        var dumb = card.CreateDumbBuffer(32, 32, 32);
        oracle.ExpectClosedAtEnd(dumb.Handle);
        using (var first = card.ExportDmaBuf(dumb.Handle))
        {
            card.Dispose();
            render.Dispose();
            Assert.Throws<ObjectDisposedException>(() => card.CreateDumbBuffer(16, 16, 32));
            Assert.Throws<ObjectDisposedException>(() => card.ImportDmaBuf(first));
            Assert.Throws<ObjectDisposedException>(() => card.GetCapability(DrmCapability.DumbBuffer));
            Assert.Throws<ObjectDisposedException>(() => card.TryGetCapability(DrmCapability.Prime, out _));
            Assert.Throws<ObjectDisposedException>(() => card.Version);
            Assert.Throws<ObjectDisposedException>(() => card.AdoptHandle(dumb.Handle.Value));
            Assert.Throws<ObjectDisposedException>(() => render.Version);
            Assert.Throws<ObjectDisposedException>(() => render.ImportDmaBuf(first));

            // The live handle: export, map, count, all as before.
            using (var second = card.ExportDmaBuf(dumb.Handle))
            {
                Assert.Equal(first.Identity, second.Identity);
            }

            using (var map = dumb.Map())
            using (var cpu = map.BeginAccess())
            {
                cpu.Span.Fill(7);
            }

            Assert.Equal(1, dumb.Handle.ReferenceCount);
        }

        uint number = dumb.Handle.Value;
        dumb.Dispose();
        Assert.True(dumb.Handle.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => dumb.Handle.Value); // before: the old number, perhaps reused
        Assert.Contains($"GEM handle {number}", dumb.Handle.ToString(), StringComparison.Ordinal);
        oracle.Verify(); // GEM_CLOSE reached the file, which then closed
    }

    // Hole 5: on SOCK_SEQPACKET a short record was joined with the next ones, whose fds the kernel then dropped.
    [Fact]
    public async Task A_short_or_long_seqpacket_record_costs_that_record_only()
    {
        var ct = TestContext.Current.CancellationToken;
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            byte[] good = SafetyContractHostTests.Description(planes: 1, stride: dumb.Pitch);
            byte[] longer = new byte[100];
            good.CopyTo(longer, 0);
            pair.A.SendWithFds(good.AsSpan(0, 10), dmaBuf);
            pair.A.SendWithFds(longer, dmaBuf);
            for (int i = 0; i < 3; i++)
            {
                pair.A.SendWithFds(good, dmaBuf);
            }

            var shortError = await Assert.ThrowsAsync<InvalidDataException>(async () => await pair.B.ReceiveDmaBufAsync(ct));
            Assert.Contains("10-byte record", shortError.Message, StringComparison.Ordinal);
            var longError = await Assert.ThrowsAsync<InvalidDataException>(async () => await pair.B.ReceiveDmaBufAsync(ct));
            Assert.Contains("MSG_TRUNC", longError.Message, StringComparison.Ordinal);
            for (int i = 0; i < 3; i++)
            {
                using var received = await pair.B.ReceiveDmaBufAsync(ct);
                Assert.NotNull(received);
                Assert.Equal(dmaBuf.Identity, received.Planes[0].Buffer.Identity);
            }
        }

        oracle.Verify();
    }

    // Hole 6: size arithmetic wrapped around into acceptance, and a huge length reached mmap.
    [Fact]
    public void Sizes_offsets_and_strides_cannot_overflow_into_acceptance()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32)) // 4096 bytes
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            const ulong xTiled = 0x0100000000000001; // a vendor modifier: no minimum-stride rule, only the size check
            var e = Assert.Throws<ArgumentException>(() => new DmaBufDescription(3221225472, 4294967295, DrmFourcc.Xrgb8888, xTiled,
                [new DmaBufPlane(dmaBuf, 0, 4294967295)]));
            Assert.Contains("past the 4096-byte dma-buf", e.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => new DmaBufDescription(1, 4294967295, DrmFourcc.Xrgb8888, xTiled,
                [new DmaBufPlane(dmaBuf, 4294967295, 4294967295)]));

            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, 4096, long.MaxValue));
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, 0, long.MaxValue));
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, long.MaxValue - 4095, 4096));
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, 0, -2));
            Assert.Throws<ArgumentOutOfRangeException>(() => card.CreateDumbBuffer(uint.MaxValue, 8, uint.MaxValue));
            Assert.Throws<ArgumentOutOfRangeException>(() => card.CreateDumbBuffer(uint.MaxValue, uint.MaxValue, uint.MaxValue));
            Assert.Equal(1, card.OpenObjectCount);
        }

        oracle.Verify();
    }

    // Hole 7: Framebuffer had no finalizer (an abandoned one stayed on the device) and threw from Dispose.
    [Fact]
    public void A_framebuffer_is_removed_by_its_finalizer_and_its_Dispose_never_throws()
    {
        using var oracle = new LeakOracle();
        using (var vkms = KernelEnv.OpenVkms())
        using (var dumb = vkms.CreateDumbBuffer(64, 64, 32))
        using (var description = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
                   [new DmaBufPlane(vkms.ExportDmaBuf(dumb.Handle), 0, dumb.Pitch)]))
        using (var imported = vkms.ImportBuffer(description))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            uint abandoned = AddAndDrop(vkms, imported);
            CollectEverything();
            ErrnoAssert.Equal(Interop.Errno.ENOENT, Interop.DrmModeFb.RmFB(vkms.RawFd, abandoned)); // before: 0, it was still there

            var fb = vkms.AddFramebuffer(imported);
            Assert.Equal(0, Interop.DrmModeFb.RmFB(vkms.RawFd, fb.Id)); // someone else removed it
            fb.Dispose(); // before: DrmException ENOENT from Dispose
            fb.Dispose();
            Assert.Equal(2, dumb.Handle.ReferenceCount); // the dumb buffer and the import; the framebuffers' are gone
        }

        oracle.Verify();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static uint AddAndDrop(DrmDevice device, ImportedBuffer buffer) => device.AddFramebuffer(buffer).Id;

    // Hole 7: a received sync_file is checked by the kernel's answer, with the ownership flag.
    [Fact]
    public void A_real_sync_file_is_accepted_by_FromFileDescriptor_and_TakeSyncFile()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        using (var fence = dmaBuf.ExportSyncFile(DmaBufAccess.Read))
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            using (var borrowed = SyncFile.FromFileDescriptor(fence.FileDescriptor, ownsHandle: false))
            {
                Assert.Equal(fence.FileDescriptor, borrowed.FileDescriptor);
            }

            Assert.False(fence.IsClosed);
            Assert.Throws<ArgumentException>(() => SyncFile.FromFileDescriptor(dmaBuf.FileDescriptor, ownsHandle: false));
            pair.A.SendWithFds("s"u8, fence, dmaBuf);
            using var received = pair.B.ReceiveWithFds(new byte[4]);
            Assert.Throws<InvalidDataException>(() => received.TakeSyncFile(1));
            Assert.Throws<InvalidDataException>(() => received.TakeDmaBuf(0));
            using var sync = received.TakeSyncFile(0);
            using var buffer = received.TakeDmaBuf(1);
            Assert.Equal(dmaBuf.Identity, buffer.Identity);
        }

        oracle.Verify();
    }

    // Hole 9: nodes are found in sysfs; only the node asked for is opened (a primary node could make us DRM master).
    [Fact]
    public void Enumerate_opens_no_node_and_OpenByDriver_opens_only_the_node_it_returns()
    {
        KernelEnv.RequireVgem();
        using var oracle = new LeakOracle();
        using (var watch = new OpenWatch("/dev/dri"))
        {
            var nodes = DrmNode.Enumerate();
            Assert.Empty(watch.Opened()); // before: every node was opened to read its version
            Assert.Contains(nodes, n => n.DriverName == "vgem" && n.Type == DrmNodeType.Render);
            Assert.Contains(nodes, n => n.DriverName == "vgem" && n.Type == DrmNodeType.Primary);

            using (var render = DrmDevice.OpenByDriver("vgem"))
            {
                Assert.Equal("vgem", render.Version.Name);
                Assert.Equal([Path.GetFileName(render.Path)], watch.Opened());
            }

            using (var card = DrmDevice.OpenByDriver("vgem", DrmNodeType.Primary))
            {
                Assert.Equal(DrmNodeType.Primary, card.NodeType);
                Assert.Equal([Path.GetFileName(card.Path)], watch.Opened());
            }

            if (KernelEnv.HasCapability("vkms"))
            {
                using var vkms = DrmDevice.OpenByDriver("vkms"); // no render node: its primary node, and only that
                Assert.Equal("vkms", vkms.Version.Name);
                Assert.Equal([Path.GetFileName(vkms.Path)], watch.Opened());
            }

            // With no driver named, only render nodes (which carry no master) are asked for their PRIME caps.
            using (var any = DrmDevice.OpenByDriver(null, DrmNodeType.Primary))
            {
                Assert.Equal(DrmNodeType.Primary, any.NodeType);
                Assert.All(watch.Opened().Where(n => n != Path.GetFileName(any.Path)), n => Assert.StartsWith("renderD", n, StringComparison.Ordinal));
            }
        }

        oracle.Verify();
    }

    // Hole 9: the hosting factory leaked the device when reading or logging its version threw.
    [Fact]
    public void The_hosting_factory_disposes_the_device_when_logging_what_it_opened_throws()
    {
        KernelEnv.RequireVgem();
        using var oracle = new LeakOracle();
        using (var services = new ServiceCollection()
                   .AddLogging(b => b.AddProvider(new ThrowingLoggerProvider()))
                   .AddPrimeInterop(o => o.Driver = "vgem")
                   .BuildServiceProvider())
        {
            var factory = services.GetRequiredService<IDrmDeviceFactory>();
            Assert.ThrowsAny<Exception>(() => factory.Open());
        }

        oracle.Verify(); // no GC: a device left to its finalizer would show as a leaked /dev/dri fd
    }

    private sealed class ThrowingLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ThrowingLogger();

        public void Dispose()
        {
        }

        private sealed class ThrowingLogger : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                throw new InvalidOperationException("the log sink is broken");
        }
    }
}
