using System.Runtime.CompilerServices;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>The PRIME lifetime rules, against vgem: one handle per object per file, and who keeps whom alive.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class PrimeLifetimeTests
{
    [Fact]
    public void Exporting_one_handle_twice_gives_two_fds_of_one_dmabuf_and_self_import_returns_the_original()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            oracle.ExpectClosedAtEnd(dumb.Handle);
            using var first = card.ExportDmaBuf(dumb.Handle);
            using var second = card.ExportDmaBuf(dumb.Handle);
            Assert.NotEqual(first.FileDescriptor, second.FileDescriptor);
            Assert.Equal(first.Identity, second.Identity);

            using var self = card.ImportDmaBuf(second);
            Assert.True(self.RefersToSameObject(dumb.Handle));
            Assert.Equal(dumb.Handle.Value, self.Value);
            Assert.Equal(2, dumb.Handle.ReferenceCount);
            Assert.Equal(1, card.OpenObjectCount);
        }

        oracle.Verify();
    }

    [Fact]
    public void Importing_twice_on_another_file_shares_one_handle_and_closes_it_once()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(32, 32, 32);
            using var fdA = card.ExportDmaBuf(dumb.Handle);
            using var fdB = card.ExportDmaBuf(dumb.Handle);

            var first = render.ImportDmaBuf(fdA);
            var second = render.ImportDmaBuf(fdB); // through the other fd
            oracle.ExpectClosedAtEnd(first);
            Assert.True(first.RefersToSameObject(second));
            Assert.Equal(first.Value, second.Value);
            Assert.Equal(2, second.ReferenceCount);

            first.Dispose();
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, second.Value), "the kernel handle must outlive the first reference");
            Assert.Equal(1, second.ReferenceCount);
            using var stillExportable = render.ExportDmaBuf(second);
            Assert.Equal(fdA.Identity, stillExportable.Identity);

            uint value = second.Value;
            second.Dispose();
            second.Dispose(); // idempotent: never a second GEM_CLOSE
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, value));
            Assert.Equal(0, render.OpenObjectCount);

            using var again = render.ImportDmaBuf(fdA); // a closed handle can be imported afresh
            Assert.Equal(1, again.ReferenceCount);
            oracle.ExpectClosedAtEnd(again);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void An_exported_dmabuf_keeps_the_object_alive_after_the_exporter_closes_its_handle()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            var dumb = card.CreateDumbBuffer(64, 64, 32);
            oracle.ExpectClosedAtEnd(dumb.Handle);
            using (var map = dumb.Map())
            using (var cpu = map.BeginAccess())
            {
                Pattern.Fill(cpu.Span, 0x1234);
            }

            using var dmaBuf = card.ExportDmaBuf(dumb.Handle);
            using var mapping = dmaBuf.Map(DmaBufAccess.Read);
            uint oldHandle = dumb.Handle.Value;
            dumb.Dispose();
            Assert.False(LeakOracle.HandleIsOpen(card.FileHandle, oldHandle));

            using (var cpu = mapping.BeginAccess(DmaBufAccess.Read))
            {
                Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 0x1234));
            }

            using var back = card.ImportDmaBuf(dmaBuf); // the object is importable again on the exporter's file
            oracle.ExpectClosedAtEnd(back);
            using var reexport = card.ExportDmaBuf(back);
            Assert.Equal(dmaBuf.Identity, reexport.Identity);
        }

        oracle.Verify();
    }

    [Fact]
    public void An_importer_keeps_the_dmabuf_alive_after_the_fd_is_closed()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            using (var map = dumb.Map())
            using (var cpu = map.BeginAccess())
            {
                Pattern.Fill(cpu.Span, 0xbeef);
            }

            GemHandle imported;
            DmaBufIdentity identity;
            using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
            {
                identity = dmaBuf.Identity;
                imported = render.ImportDmaBuf(dmaBuf);
            }

            dumb.Dispose(); // only the importer holds the object now (importer → dma-buf → exporter's object)
            using (imported)
            {
                oracle.ExpectClosedAtEnd(imported);
                using var reexported = render.ExportDmaBuf(imported);
                Assert.Equal(identity, reexported.Identity); // the same dma-buf, kept alive by the import
                using var mapping = reexported.Map(DmaBufAccess.Read);
                using var cpu = mapping.BeginAccess(DmaBufAccess.Read);
                Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 0xbeef));
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void Bytes_written_through_the_dmabuf_mapping_read_back_through_the_dumb_map_and_an_importer()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(128, 64, 32);
            using var dmaBuf = card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite);
            using (var mapping = dmaBuf.Map(DmaBufAccess.Write))
            using (var cpu = mapping.BeginAccess(DmaBufAccess.Write))
            {
                Pattern.Fill(cpu.Span, 0xc0ffee);
            }

            using (var map = dumb.Map())
            using (var cpu = map.BeginAccess())
            {
                Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 0xc0ffee));
            }

            using var imported = render.ImportDmaBuf(dmaBuf);
            oracle.ExpectClosedAtEnd(imported);
            oracle.ExpectClosedAtEnd(dumb.Handle);
            using var fromImporter = render.ExportDmaBuf(imported);
            using var importerMap = fromImporter.Map(DmaBufAccess.Read);
            using var read = importerMap.BeginAccess(DmaBufAccess.Read);
            Assert.Equal(-1, Pattern.FirstMismatch(read.Span, 0xc0ffee));
        }

        oracle.Verify();
    }

    [Fact]
    public void A_handle_keeps_its_device_file_open_after_the_device_is_disposed()
    {
        using var oracle = new LeakOracle();
        var card = KernelEnv.OpenVgemCard();
        var dumb = card.CreateDumbBuffer(16, 16, 32);
        oracle.ExpectClosedAtEnd(dumb.Handle);
        card.Dispose();
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle)) // still works: the handle holds the fd
        {
            Assert.Equal((long)dumb.Size, dmaBuf.Size);
        }

        dumb.Dispose(); // the last reference: GEM_CLOSE, then the fd closes
        oracle.Verify();
    }

    // GemHandle keeps a SafeHandle's lifetime rules itself (issue 8: one object per handle, not two). A call on the handle
    // holds it; a Dispose during the call marks it disposed at once and closes the kernel handle when the call ends.
    [Fact]
    public void A_Dispose_during_a_call_on_the_handle_closes_it_when_the_call_ends_and_only_then()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(16, 16, 32);
            using var fd = card.ExportDmaBuf(dumb.Handle);
            var imported = render.ImportDmaBuf(fd);
            uint value = imported.Value;
            using (var held = imported.Lease())
            {
                imported.Dispose();
                Assert.True(imported.IsDisposed);
                Assert.Throws<ObjectDisposedException>(() => imported.Value);
                Assert.Throws<ObjectDisposedException>(() => render.ExportDmaBuf(imported)); // no new call once disposed
                Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, value), "closed under a call that still holds it");
                Assert.Equal(1, render.OpenObjectCount);
            }

            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, value), "not closed when the last call ended");
            Assert.Equal(0, render.OpenObjectCount);
            imported.Dispose(); // idempotent after a deferred release too
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, value));
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    // A GemHandle nobody disposes is released by its finalizer: its count in the table, then (the last one) the kernel
    // handle, then its reference on the device's file.
    [Fact]
    public void An_abandoned_handle_is_released_by_its_finalizer_and_the_last_one_closes_the_kernel_handle_and_the_file()
    {
        using var oracle = new LeakOracle(); // Verify: every fd the test opened is closed, the render file's included
        using (var card = KernelEnv.OpenVgemCard())
        {
            using var dumb = card.CreateDumbBuffer(16, 16, 32);
            oracle.ExpectClosedAtEnd(dumb.Handle);
            using var fd = card.ExportDmaBuf(dumb.Handle);
            var render = KernelEnv.OpenVgemRender();
            GemHandle? kept = render.ImportDmaBuf(fd);
            uint value = kept.Value;
            ImportAndDrop(render, fd, 3);
            CollectEverything();
            Assert.Equal(1, kept.ReferenceCount); // the three dropped references were released, the kept one was not
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, value));

            render.Dispose(); // the kept handle now holds the file alone
            Assert.Equal(1, render.OpenObjectCount);
            kept = null;
            CollectEverything();
            Assert.Equal(0, render.OpenObjectCount); // released through the table: GEM_CLOSE, then the file
        }

        oracle.Verify();

        [MethodImpl(MethodImplOptions.NoInlining)]
        static void ImportAndDrop(DrmDevice device, DmaBuf fd, int count)
        {
            for (int i = 0; i < count; i++)
            {
                _ = device.ImportDmaBuf(fd);
            }
        }
    }

    // A handle's release guard serves its table entry for life and waits in the entry's spare slot between handles. A
    // disposed handle must not keep the guard that a later handle of the entry arms: dropped undisposed, that handle is
    // released by its finalizer while the disposed one is still referenced.
    [Fact]
    public void A_handle_dropped_undisposed_is_finalized_while_a_disposed_handle_of_its_entry_lives()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var fd = card.ExportDmaBuf(dumb.Handle))
        {
            using GemHandle held = render.ImportDmaBuf(fd);
            GemHandle disposed = render.ImportDmaBuf(fd);
            disposed.Dispose(); // its guard goes back to the entry's spare slot
            ImportAndDrop(render, fd); // the next handle takes that guard
            CollectEverything();
            Assert.Equal(1, held.ReferenceCount); // the dropped reference was released, the held one was not
            Assert.Same(render, disposed.Device); // the disposed handle, still referenced, still names its device
            oracle.ExpectClosedAtEnd(held);
        }

        oracle.Verify();

        [MethodImpl(MethodImplOptions.NoInlining)]
        static void ImportAndDrop(DrmDevice device, DmaBuf fd) => _ = device.ImportDmaBuf(fd);
    }

    private static void CollectEverything()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }
}
