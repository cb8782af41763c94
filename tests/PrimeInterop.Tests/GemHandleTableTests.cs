using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>The handle table on its own, against vgem: counted references, one close at the last release.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class GemHandleTableTests
{
    [Fact]
    public void Imports_of_one_object_count_on_one_handle_and_only_the_last_release_closes_it()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(32, 32, 32);
            using var fdA = card.ExportDmaBuf(dumb.Handle);
            using var fdB = card.ExportDmaBuf(dumb.Handle);
            using var file = new Lease(render.FileHandle);
            using var a = new Lease(fdA);
            using var b = new Lease(fdB);
            var table = new GemHandleTable();

            Assert.Equal(0, table.ImportEntry(file.Fd, a.Fd, out GemHandleTable.Entry? first));
            Assert.Equal(0, table.ImportEntry(file.Fd, b.Fd, out GemHandleTable.Entry? second));
            Assert.Same(first, second);
            uint handle = first!.Handle;
            Assert.Equal(2, table.ReferencesOf(handle));
            Assert.Equal(1, table.Count);

            Assert.Equal(0, table.Release(file.Fd, first));
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, handle), "one reference is left");
            Assert.Equal(0, table.Release(file.Fd, first));
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, handle), "the last release closes the handle");
            Assert.Equal(0, table.Count);
            Assert.Equal(0, table.ReferencesOf(handle));

            // One release too many is a bug in the caller: refused, and no second GEM_CLOSE reaches the kernel (the
            // kernel would answer EINVAL, which the release would return instead of throwing).
            int deviceFd = file.Fd;
            Assert.Throws<InvalidOperationException>(() => table.Release(deviceFd, first));
            Assert.Equal(0, table.Count);

            // A failed import counts nothing.
            ErrnoAssert.Equal(Errno.EBADF, table.ImportEntry(file.Fd, 99999, out _));
            Assert.Equal(0, table.Count);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_release_that_is_not_the_last_takes_no_lock_and_an_entry_of_a_closed_handle_serves_the_next_object()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(32, 32, 32);
            using var other = card.CreateDumbBuffer(16, 16, 32);
            using var fd = card.ExportDmaBuf(dumb.Handle);
            using var otherFd = card.ExportDmaBuf(other.Handle);
            using var file = new Lease(render.FileHandle);
            using var a = new Lease(fd);
            using var b = new Lease(otherFd);
            var table = new GemHandleTable();
            int deviceFd = file.Fd;

            Assert.Equal(0, table.ImportEntry(deviceFd, a.Fd, out GemHandleTable.Entry? first));
            Assert.Equal(0, table.ImportEntry(deviceFd, a.Fd, out GemHandleTable.Entry? second));
            Assert.Same(first, second); // one object, one entry
            uint handle = first!.Handle;

            // While another thread holds the table's lock, a release that is not the last still completes.
            Lock gate = table.Lock;
            int released = -1;
            var releaser = new Thread(() => released = table.Release(deviceFd, second!));
            lock (gate)
            {
                releaser.Start();
                Assert.True(releaser.Join(TimeSpan.FromSeconds(30)), "a release that is not the last waited for the lock");
            }

            Assert.Equal(0, released);

            Assert.Equal(1, table.ReferencesOf(handle));
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, handle), "one reference is left");
            Assert.Equal(0, table.Release(deviceFd, first));
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, handle), "the last release closes the handle");
            Assert.Equal(0, table.Count);

            // Entries of closed handles are reused: new objects, counted and closed one after the other, allocate
            // nothing, and each entry carries its own object's number and count.
            long allocated = 0;
            for (int i = 0; i < 4; i++)
            {
                int dmaBufFd = (i % 2 == 0 ? b : a).Fd;
                long before = GC.GetAllocatedBytesForCurrentThread();
                int errno = table.ImportEntry(deviceFd, dmaBufFd, out GemHandleTable.Entry? next);
                allocated = GC.GetAllocatedBytesForCurrentThread() - before; // the import alone, not the asserts
                Assert.Equal(0, errno);
                Assert.Equal(1, table.ReferencesOf(next!.Handle));
                Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, next.Handle));
                uint number = next.Handle;
                Assert.Equal(0, table.Release(deviceFd, next));
                Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, number));
                Assert.Equal(0, table.Count);
            }

            Assert.Equal(0, allocated);
            oracle.ExpectClosedAtEnd(dumb.Handle);
            oracle.ExpectClosedAtEnd(other.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void Numbers_beyond_the_tables_array_are_counted_deduplicated_and_closed_once()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            var dumbs = new List<DumbBuffer>();
            var fds = new List<DmaBuf>();
            try
            {
                for (int i = 0; i < 8; i++)
                {
                    dumbs.Add(card.CreateDumbBuffer(16, 16, 32));
                    fds.Add(card.ExportDmaBuf(dumbs[i].Handle));
                }

                using var file = new Lease(render.FileHandle);
                int deviceFd = file.Fd;
                var table = new GemHandleTable(maxSlots: 4); // numbers 4 and up live in the dictionary
                var entries = new GemHandleTable.Entry[fds.Count];
                for (int i = 0; i < fds.Count; i++)
                {
                    using var a = new Lease(fds[i]);
                    Assert.Equal(0, table.ImportEntry(deviceFd, a.Fd, out GemHandleTable.Entry? e));
                    entries[i] = e!;
                }

                Assert.Contains(entries, e => e.Handle >= 4);
                Assert.Equal(fds.Count, table.Count);
                for (int i = 0; i < fds.Count; i++)
                {
                    using var a = new Lease(fds[i]);
                    Assert.Equal(0, table.ImportEntry(deviceFd, a.Fd, out GemHandleTable.Entry? again));
                    Assert.Same(entries[i], again); // one entry per object, wherever its number is kept
                    Assert.Equal(2, table.ReferencesOf(entries[i].Handle));
                }

                Assert.Equal(fds.Count, table.Count);
                foreach (GemHandleTable.Entry e in entries)
                {
                    uint number = e.Handle;
                    Assert.Equal(0, table.Release(deviceFd, e));
                    Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, number), "one reference is left");
                    Assert.Equal(0, table.Release(deviceFd, e));
                    Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, number), "the last release closes the handle");
                    Assert.Equal(0, table.ReferencesOf(number));
                }

                Assert.Equal(0, table.Count);
            }
            finally
            {
                fds.ForEach(f => f.Dispose());
                dumbs.ForEach(d => d.Dispose());
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void A_number_beyond_the_reserved_room_because_the_file_holds_handles_the_table_never_saw_is_counted_and_closed()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(16, 16, 32);
            using var fd = card.ExportDmaBuf(dumb.Handle);
            using var file = new Lease(render.FileHandle);
            int deviceFd = file.Fd;

            // 100 handles made on this file outside the table (through FileHandle, as a driver-specific ioctl would):
            // the kernel's next number is past the room the table reserved for an empty table.
            var foreign = new List<uint>();
            var foreignDumbs = new List<DumbBuffer>();
            try
            {
                for (int i = 0; i < 100; i++)
                {
                    foreignDumbs.Add(card.CreateDumbBuffer(16, 16, 32));
                    using var exported = card.ExportDmaBuf(foreignDumbs[i].Handle);
                    using var lease = new Lease(exported);
                    Assert.Equal(0, DrmPrime.FdToHandle(deviceFd, lease.Fd, out uint h));
                    foreign.Add(h);
                }

                var table = new GemHandleTable();
                using var a = new Lease(fd);
                Assert.Equal(0, table.ImportEntry(deviceFd, a.Fd, out GemHandleTable.Entry? entry));
                Assert.True(entry!.Handle > 100, $"handle {entry.Handle}: the foreign handles hold 1-100");
                Assert.Equal(0, table.ImportEntry(deviceFd, a.Fd, out GemHandleTable.Entry? again));
                Assert.Same(entry, again);
                Assert.Equal(2, table.ReferencesOf(entry.Handle));
                Assert.Equal(1, table.Count);
                uint number = entry.Handle;
                Assert.Equal(0, table.Release(deviceFd, entry));
                Assert.Equal(0, table.Release(deviceFd, entry));
                Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, number), "the last release closes the handle");
                Assert.True(foreign.TrueForAll(h => LeakOracle.HandleIsOpen(render.FileHandle, h)), "the table closed only its own handle");
                Assert.Equal(0, table.Count);
            }
            finally
            {
                foreign.ForEach(h => Drm.GemClose(deviceFd, h));
                foreignDumbs.ForEach(d => d.Dispose());
            }
        }

        oracle.Verify();
    }
}
