using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// A DmaBuf imported again on a device that holds its object (a buffer pool's buffers, imported each frame) is
/// counted on the entry it remembers, with no kernel call, and only while that entry provably still is its object's:
/// same table, same generation, alive. The memory hangs off the DmaBuf object, never off its fd number.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class ReimportTests
{
    [Fact]
    public void A_pool_buffer_imported_again_reuses_its_entry_and_shares_the_one_handle()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        {
            using GemHandle held = render.ImportDmaBuf(buffer);
            Assert.Null(buffer.ImportedEntry(render.Table, render.RawFd)); // a first import remembers nothing
            using (render.ImportDmaBuf(buffer))
            {
                Assert.Null(buffer.ImportedEntry(render.Table, render.RawFd)); // the first duplicate only marks it
            }

            using (GemHandle third = render.ImportDmaBuf(buffer))
            {
                Assert.True(third.RefersToSameObject(held));
            }

            // From now on the DmaBuf answers: the entry it remembers, counted once more per import; the lane asks the
            // kernel, which answers with the same handle.
            var seen = (Render: render, Handle: 0u, References: 0);
            render.ImportScoped(buffer, ref seen, static (scoped BorrowedGemHandle h, ref (DrmDevice Render, uint Handle, int References) s) =>
            {
                s.Handle = h.Value;
                s.References = s.Render.ReferenceCountOf(h.Value);
            });
            Assert.Equal((held.Value, 2), (seen.Handle, seen.References));
            var handles = Enumerable.Range(0, 5).Select(_ => render.ImportDmaBuf(buffer)).ToList();
            Assert.All(handles, h => Assert.True(h.RefersToSameObject(held)));
            Assert.Equal(6, held.ReferenceCount);
            handles.ForEach(h => h.Dispose());
            Assert.Equal(1, held.ReferenceCount);
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, held.Value));
            oracle.ExpectClosedAtEnd(held);
        }

        oracle.Verify();
    }

    // The entry a DmaBuf remembers serves another object once its handle is closed and the number reused: the DmaBuf
    // must then ask the kernel again, not count the other object.
    [Fact]
    public void A_remembered_entry_that_serves_another_object_since_is_not_reused()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var first = card.CreateDumbBuffer(16, 16, 32))
        using (var second = card.CreateDumbBuffer(16, 16, 32))
        using (var x = card.ExportDmaBuf(first.Handle))
        using (var y = card.ExportDmaBuf(second.Handle))
        {
            uint number;
            using (GemHandle held = render.ImportDmaBuf(x))
            {
                render.ImportDmaBuf(x).Dispose();
                render.ImportDmaBuf(x).Dispose(); // remembered now
                GemHandleTable.Entry? remembered = x.ImportedEntry(render.Table, render.RawFd); // counts one more reference
                Assert.NotNull(remembered);
                render.Table.Release(render.RawFd, remembered);
                number = held.Value;
            }

            Assert.Equal(0, render.OpenObjectCount); // x's handle is closed
            using GemHandle other = render.ImportDmaBuf(y); // y gets x's number (the lowest free) and x's entry (reused)
            Assert.Equal(number, other.Value);
            Assert.Null(x.ImportedEntry(render.Table, render.RawFd));

            using GemHandle again = render.ImportDmaBuf(x);
            Assert.False(again.RefersToSameObject(other));
            using DmaBuf reexported = render.ExportDmaBuf(again);
            Assert.Equal(x.Identity, reexported.Identity);
        }

        oracle.Verify();
    }

    // Remembered on one device, a DmaBuf imported on another device asks that device's kernel file; a disposed DmaBuf
    // is refused before its memory is looked at; a new DmaBuf with the old one's fd number remembers nothing.
    [Fact]
    public void The_memory_is_of_one_device_one_open_DmaBuf_object_never_of_an_fd_number()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var render2 = KernelEnv.OpenVgemRender())
        using (var first = card.CreateDumbBuffer(16, 16, 32))
        using (var second = card.CreateDumbBuffer(16, 16, 32))
        {
            var x = card.ExportDmaBuf(first.Handle);
            int number = x.FileDescriptor;
            using GemHandle held = render.ImportDmaBuf(x);
            render.ImportDmaBuf(x).Dispose();
            render.ImportDmaBuf(x).Dispose(); // remembered on render

            using (GemHandle elsewhere = render2.ImportDmaBuf(x))
            using (DmaBuf back = render2.ExportDmaBuf(elsewhere))
            {
                Assert.Same(render2, elsewhere.Device);
                Assert.Equal(x.Identity, back.Identity);
                Assert.Equal(1, render2.OpenObjectCount);
            }

            x.Dispose();
            Assert.Throws<ObjectDisposedException>(() => render.ImportDmaBuf(x));

            using DmaBuf z = card.ExportDmaBuf(second.Handle);
            Assert.Equal(number, z.FileDescriptor); // x's number, another buffer
            using GemHandle zHandle = render.ImportDmaBuf(z);
            Assert.False(zHandle.RefersToSameObject(held));
            using DmaBuf zBack = render.ExportDmaBuf(zHandle);
            Assert.Equal(z.Identity, zBack.Identity);
            oracle.ExpectClosedAtEnd(held);
        }

        oracle.Verify();
    }

    // A DmaBuf over a borrowed fd (ownsHandle false) cannot vouch for its number: its owner may close it and the
    // number name another buffer. It remembers nothing; every import asks the kernel.
    [Fact]
    public void A_DmaBuf_over_a_borrowed_fd_remembers_nothing()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var owner = card.ExportDmaBuf(dumb.Handle))
        using (var borrowed = DmaBuf.FromFileDescriptor(owner.FileDescriptor, ownsHandle: false))
        {
            using GemHandle held = render.ImportDmaBuf(borrowed);
            for (int i = 0; i < 3; i++)
            {
                render.ImportDmaBuf(borrowed).Dispose();
            }

            Assert.False(borrowed.CanRemember);
            Assert.Null(borrowed.ImportedEntry(render.Table, render.RawFd));
            oracle.ExpectClosedAtEnd(held);
        }

        oracle.Verify();
    }

    // A remembered import makes no kernel call and so leases nothing: a disposed device must still refuse it. The
    // device's file stays open for its live handles (the handle table holds it) and closes with the last of them.
    [Fact]
    public void A_disposed_device_refuses_a_remembered_import_and_closes_its_file_with_its_last_handle()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        {
            var render = KernelEnv.OpenVgemRender();
            GemHandle held = render.ImportDmaBuf(buffer);
            render.ImportDmaBuf(buffer).Dispose(); // the first duplicate import marks the DmaBuf
            render.ImportDmaBuf(buffer).Dispose(); // the second remembers its entry
            GemHandle again = render.ImportDmaBuf(buffer); // served by the entry, with no kernel call
            Assert.True(again.RefersToSameObject(held));
            Assert.Equal(2, held.ReferenceCount);

            render.Dispose();
            Assert.Throws<ObjectDisposedException>(() => render.ImportDmaBuf(buffer));
            Assert.Equal(2, held.ReferenceCount); // the refused import counted nothing
            held.Dispose();
            Assert.False(render.FileHandle.IsClosed, "a live handle keeps the disposed device's file open");
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, again.Value));
            again.Dispose();
            Assert.True(render.FileHandle.IsClosed, "the last handle's release closed the disposed device's file");
            Assert.Same(render, again.Device); // a disposed handle still names its device
        }

        oracle.Verify();
    }
}
