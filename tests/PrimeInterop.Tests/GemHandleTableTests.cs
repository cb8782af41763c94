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
            using var file = new HandleLease(render.FileHandle);
            using var a = new HandleLease(fdA);
            using var b = new HandleLease(fdB);
            var table = new GemHandleTable();

            Assert.Equal(0, table.Import(file.Fd, a.Fd, out uint first));
            Assert.Equal(0, table.Import(file.Fd, b.Fd, out uint second));
            Assert.Equal(first, second);
            Assert.Equal(2, table.ReferencesOf(first));
            Assert.Equal(1, table.Count);

            Assert.Equal(0, table.Release(file.Fd, first));
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, first), "one reference is left");
            Assert.Equal(0, table.Release(file.Fd, first));
            Assert.False(LeakOracle.HandleIsOpen(render.FileHandle, first), "the last release closes the handle");
            Assert.Equal(0, table.Count);
            Assert.Equal(0, table.ReferencesOf(first));

            // One release too many is a bug in the caller: refused, and no second GEM_CLOSE reaches the kernel.
            Assert.Equal(0, table.Import(file.Fd, a.Fd, out uint again));
            int deviceFd = file.Fd;
            Assert.Throws<InvalidOperationException>(() => table.Release(deviceFd, again + 1000));
            Assert.True(LeakOracle.HandleIsOpen(render.FileHandle, again));
            Assert.Equal(0, table.Release(file.Fd, again));

            // A failed import counts nothing.
            ErrnoAssert.Equal(Errno.EBADF, table.Import(file.Fd, 99999, out _));
            Assert.Equal(0, table.Count);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }
}
