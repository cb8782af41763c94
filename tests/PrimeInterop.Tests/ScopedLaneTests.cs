using System.Runtime.InteropServices;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// The zero-allocation lane (ImportScoped/ExportScoped): what it lends is released exactly when its scope ends,
/// also by an exception, and it shares the handle table (and so the kernel handle) with the SafeHandle API.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class ScopedLaneTests
{
    [Fact]
    public void An_import_scope_holds_the_handle_for_its_body_and_closes_it_once_at_its_end()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            using var fd = card.ExportDmaBuf(dumb.Handle);
            using var small = card.CreateDumbBuffer(8, 8, 32);
            using var smallFd = card.ExportDmaBuf(small.Handle);
            using var other = render.ImportDmaBuf(smallFd); // a neighbour that must survive
            var seen = new Seen { Device = render };
            render.ImportScoped(fd, ref seen, static (scoped BorrowedGemHandle h, ref Seen s) =>
            {
                s.Handle = h.Value;
                s.OpenInside = LeakOracle.HandleIsOpen(s.Device!.FileHandle, h.Value);
                s.ReferencesInside = s.Device.ReferenceCountOf(h.Value);
                s.Calls++;
            });

            Assert.Equal(1, seen.Calls);
            Assert.True(seen.OpenInside);
            Assert.Equal(1, seen.ReferencesInside);
            Assert.NotEqual(other.Value, seen.Handle);
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, seen.Handle), "the scope's end must close the handle");
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, other.Value), "only the scope's own handle is closed");
            Assert.Equal(1, render.OpenObjectCount);
            oracle.ExpectClosedAtEnd(other);
            oracle.ExpectClosedAtEnd(small.Handle);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void An_export_scope_lends_a_cloexec_dmabuf_fd_and_closes_it_once_at_its_end()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            using var reference = card.ExportDmaBuf(dumb.Handle);
            var seen = new Seen { Device = card, Identity = reference.Identity };
            card.ExportScoped(dumb.Handle, ref seen, static (scoped BorrowedDmaBuf fd, ref Seen s) =>
            {
                s.Fd = fd.DangerousGetFileDescriptor();
                Assert.Equal(0, TestLibc.IsCloseOnExec(fd.DangerousGetFileDescriptor(), out bool cloexec));
                Assert.True(cloexec);
                Assert.Equal(0, Libc.Stat(fd.DangerousGetFileDescriptor(), out ulong dev, out ulong ino, out _, out _));
                Assert.Equal(s.Identity, new DmaBufIdentity(dev, ino));
                s.Calls++;
            });

            Assert.Equal(1, seen.Calls);
            ErrnoAssert.Equal(Errno.EBADF, TestLibc.IsCloseOnExec(seen.Fd, out _)); // closed at the scope's end
            ErrnoAssert.Equal(Errno.EBADF, Libc.Close(seen.Fd));                // and only once: nothing else had it
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void An_exception_in_the_body_releases_what_the_scope_lent_and_propagates_unchanged()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            var seen = new Seen { Device = render };
            var thrown = new InvalidOperationException("from the body");
            seen.ToThrow = thrown;
            var caught = Assert.Throws<InvalidOperationException>(() =>
                card.ExportScoped(dumb.Handle, ref seen, static (scoped BorrowedDmaBuf fd, ref Seen s) =>
                {
                    s.Fd = fd.DangerousGetFileDescriptor();
                    s.Device!.ImportScoped(fd, ref s, static (scoped BorrowedGemHandle h, ref Seen s) =>
                    {
                        s.Handle = h.Value;
                        throw s.ToThrow!;
                    });
                }));

            Assert.Same(thrown, caught);
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, seen.Handle), "the inner scope's handle must be closed");
            Assert.Equal(0, render.OpenObjectCount);
            ErrnoAssert.Equal(Errno.EBADF, TestLibc.IsCloseOnExec(seen.Fd, out _));

            // The device is fully usable afterwards, in both lanes.
            using var fd = card.ExportDmaBuf(dumb.Handle);
            using var imported = render.ImportDmaBuf(fd);
            Assert.Equal(1, imported.ReferenceCount);
            oracle.ExpectClosedAtEnd(imported);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void Duplicate_imports_across_both_lanes_share_one_kernel_handle_and_close_it_once()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            using var fdA = card.ExportDmaBuf(dumb.Handle);
            using var fdB = card.ExportDmaBuf(dumb.Handle);

            // SafeHandle first, then the lane (twice, nested, through both fds): one handle, counted, never closed early.
            using var fdC = card.ExportDmaBuf(dumb.Handle); // a third fd of the same dma-buf
            var kept = render.ImportDmaBuf(fdA);
            var seen = new Seen { Device = render, Kept = kept, Other = fdB, Third = fdC };
            render.ImportScoped(fdB, ref seen, static (scoped BorrowedGemHandle outer, ref Seen s) =>
            {
                Assert.Equal(s.Kept!.Value, outer.Value);
                Assert.Equal(2, s.Kept.ReferenceCount);
                s.Device!.ImportScoped(s.Third!, ref s, static (scoped BorrowedGemHandle inner, ref Seen s) =>
                {
                    Assert.Equal(s.Kept!.Value, inner.Value);
                    Assert.Equal(3, s.Kept.ReferenceCount);
                    s.Calls++;
                });
                Assert.Equal(2, s.Kept!.ReferenceCount);
                Assert.Equal(1, s.Device!.OpenObjectCount);
            });
            Assert.Equal(1, seen.Calls);
            Assert.Equal(1, kept.ReferenceCount);
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, kept.Value), "the lane must not close a handle a GemHandle holds");

            // The lane first, a GemHandle taken inside it: the scope's end leaves the handle to the GemHandle.
            uint value = kept.Value;
            kept.Dispose();
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, value));
            seen.Kept = null;
            render.ImportScoped(fdA, ref seen, static (scoped BorrowedGemHandle h, ref Seen s) =>
            {
                s.Kept = s.Device!.ImportDmaBuf(s.Other!);
                Assert.Equal(h.Value, s.Kept.Value);
                Assert.Equal(2, s.Kept.ReferenceCount);
            });
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, seen.Kept!.Value), "the GemHandle taken inside the scope keeps the handle");
            Assert.Equal(1, seen.Kept.ReferenceCount);
            oracle.ExpectClosedAtEnd(seen.Kept);
            seen.Kept.Dispose();
            Assert.Equal(0, render.OpenObjectCount);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_failed_import_calls_no_body_and_leaks_nothing()
    {
        using var oracle = new LeakOracle();
        using (var render = KernelEnv.OpenVgemRender())
        using (var notDmaBuf = new Microsoft.Win32.SafeHandles.SafeFileHandle(OpenDevNull(), ownsHandle: true))
        {
            var seen = new Seen();
            var e = Assert.Throws<DrmException>(() => render.ImportScoped(notDmaBuf, ref seen, static (scoped BorrowedGemHandle h, ref Seen s) => s.Calls++));
            Assert.Equal(nameof(Interop.DrmPrime.DRM_IOCTL_PRIME_FD_TO_HANDLE), e.Operation);
            Assert.Equal(0, seen.Calls);
            Assert.Equal(0, render.OpenObjectCount);
        }

        oracle.Verify();
    }

    [Fact]
    public void The_lane_refuses_a_disposed_device_a_foreign_handle_and_what_no_scope_lent()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(16, 16, 32);
            using var fd = card.ExportDmaBuf(dumb.Handle);
            var seen = new Seen();
            Assert.Throws<ArgumentException>(() => render.ExportScoped(dumb.Handle, ref seen, static (scoped BorrowedDmaBuf fd, ref Seen s) => s.Calls++));
            Assert.Throws<ArgumentException>(() => card.ExportScoped(default(BorrowedGemHandle), ref seen, static (scoped BorrowedDmaBuf fd, ref Seen s) => s.Calls++));
            Assert.Throws<InvalidOperationException>(() => card.ImportScoped(default(BorrowedDmaBuf), ref seen, static (scoped BorrowedGemHandle h, ref Seen s) => s.Calls++));

            // A handle lent by render cannot be exported through card (handles are per open file).
            seen.Device = card;
            render.ImportScoped(fd, ref seen, static (scoped BorrowedGemHandle h, ref Seen s) =>
            {
                try
                {
                    s.Device!.ExportScoped(h, ref s, static (scoped BorrowedDmaBuf fd, ref Seen s) => s.Calls++);
                }
                catch (ArgumentException)
                {
                    s.Refused = true;
                }
            });
            Assert.True(seen.Refused);

            render.Dispose();
            Assert.Throws<ObjectDisposedException>(() => render.ImportScoped(fd, ref seen, static (scoped BorrowedGemHandle h, ref Seen s) => s.Calls++));
            Assert.Equal(0, seen.Calls);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    // The device counts its file's holders itself (issue 8: a lease is one compare-exchange). Disposing the device
    // inside an import scope refuses new device calls at once, but the scope keeps the file (and the handle it lent)
    // until it ends; then the file closes.
    [Fact]
    public void Disposing_the_device_inside_an_import_scope_closes_its_file_when_the_scope_ends()
    {
        using var oracle = new LeakOracle(); // Verify: the render file's fd is closed by the end
        using (var card = KernelEnv.OpenVgemCard())
        {
            using var dumb = card.CreateDumbBuffer(16, 16, 32);
            using var fd = card.ExportDmaBuf(dumb.Handle);
            var render = KernelEnv.OpenVgemRender();
            var seen = new Seen { Device = render, Other = fd };
            render.ImportScoped(fd, ref seen, static (scoped BorrowedGemHandle h, ref Seen s) =>
            {
                s.Device!.Dispose();
                DrmDevice device = s.Device;
                SafeHandle other = s.Other!;
                s.Refused = Assert.Throws<ObjectDisposedException>(() => device.ImportDmaBuf(other)) is not null;
                s.OpenInside = !s.Device.FileHandle.IsClosed && LeakOracle.HandleIsOpen(s.Device.FileHandle, h.Value);
                s.Device.ExportScoped(h, ref s, static (scoped BorrowedDmaBuf d, ref Seen s) =>
                {
                    Assert.Equal(0, Libc.Stat(d.DangerousGetFileDescriptor(), out ulong dev, out ulong ino, out _, out _));
                    s.Identity = new DmaBufIdentity(dev, ino);
                });
            });

            Assert.True(seen.Refused);
            Assert.True(seen.OpenInside, "the file (or the lent handle) was closed under the scope");
            Assert.Equal(fd.Identity, seen.Identity); // the lent handle still exported the buffer after the Dispose
            Assert.True(render.FileHandle.IsClosed, "the scope's end did not close the disposed device's file");
            Assert.Equal(0, render.OpenObjectCount);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void The_lane_allocates_nothing_per_export_round_trip_or_duplicate_import()
    {
        using var card = KernelEnv.OpenVgemCard();
        using var render = KernelEnv.OpenVgemRender();
        using var dumb = card.CreateDumbBuffer(64, 64, 32);
        using var held = card.ExportDmaBuf(dumb.Handle);
        using var heldImport = render.ImportDmaBuf(held);
        var state = new Lane { Render = render };

        long Allocated(int n, ref Lane s)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < n; i++)
            {
                card.ExportScoped(dumb.Handle, ref s, static (scoped BorrowedDmaBuf fd, ref Lane s) =>
                    s.Render!.ImportScoped(fd, ref s, static (scoped BorrowedGemHandle h, ref Lane s) => s.Count++));
                render.ImportScoped(held, ref s, static (scoped BorrowedGemHandle h, ref Lane s) => s.Count++);
            }

            return GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Allocated(50, ref state); // first calls: JIT, static lambdas, the table's dictionary
        Assert.Equal(0, Allocated(500, ref state));
        Assert.Equal(1100, state.Count);
        Assert.Equal(1, render.OpenObjectCount);
    }

    private static int OpenDevNull()
    {
        Assert.Equal(0, Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, out int fd));
        return fd;
    }

    // A lent fd is the scope's to close: what must outlive the scope is a duplicate with an owner of its own, not the
    // lent number wrapped in an owning handle (which the scope's end would then close under it).
    [Fact]
    public void A_lent_dmabuf_kept_past_its_scope_is_a_duplicate_that_owns_its_own_fd()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            using var dumb = card.CreateDumbBuffer(16, 16, 32);
            using var reference = card.ExportDmaBuf(dumb.Handle);
            DmaBuf? kept = null;
            card.ExportScoped(dumb.Handle, ref kept, static (scoped BorrowedDmaBuf fd, ref DmaBuf? k) => k = fd.Duplicate());
            using (kept)
            {
                Assert.NotNull(kept);
                Assert.Equal(reference.Identity, kept.Identity); // open after the scope closed the lent fd
                Assert.Equal(0, TestLibc.IsCloseOnExec(kept.FileDescriptor, out bool cloexec));
                Assert.True(cloexec);
            }

            Assert.Throws<InvalidOperationException>(() => default(BorrowedDmaBuf).Duplicate());
        }

        oracle.Verify();
    }

    private struct Seen
    {
        public DrmDevice? Device;
        public GemHandle? Kept;
        public SafeHandle? Other;
        public SafeHandle? Third;
        public Exception? ToThrow;
        public DmaBufIdentity Identity;
        public uint Handle;
        public int Fd;
        public int Calls;
        public int ReferencesInside;
        public bool OpenInside;
        public bool Refused;
    }

    private struct Lane
    {
        public DrmDevice? Render;
        public int Count;
    }
}
