using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>dma-buf heaps (kernel A): enumerate, allocate with an access mode, and use the buffers like any other.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class DmaHeapTests
{
    [Fact]
    public void The_system_heap_is_listed_and_a_missing_heap_is_an_error_naming_those_that_exist()
    {
        KernelEnv.RequireCapability("dma-heap");
        using var oracle = new LeakOracle();
        Assert.Contains("system", DmaHeap.Enumerate());
        using (var heap = DmaHeap.Open("system"))
        {
            Assert.Equal("/dev/dma_heap/system", heap.Path);
        }

        var e = Assert.Throws<DrmException>(() => DmaHeap.Open("no-such-heap"));
        ErrnoAssert.Equal(Interop.Errno.ENOENT, e);
        Assert.Contains("no heap named 'no-such-heap'; the heaps here are: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("system", e.Message[e.Message.IndexOf("heaps here", StringComparison.Ordinal)..], StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => DmaHeap.Open("../udmabuf"));
        oracle.Verify();
    }

    [Fact]
    public void A_heap_buffer_maps_imports_into_vgem_and_vkms_and_becomes_a_framebuffer()
    {
        KernelEnv.RequireCapability("dma-heap");
        KernelEnv.RequireCapability("vkms");
        using var oracle = new LeakOracle();
        using (var heap = DmaHeap.Open())
        using (var render = KernelEnv.OpenVgemRender())
        using (var vkms = KernelEnv.OpenVkms())
        using (var buffer = heap.Allocate(64 * 64 * 4))
        {
            Assert.Equal(64 * 64 * 4, buffer.Size);
            Assert.True(UdmabufTests.IsCloseOnExec(buffer));
            using (var map = buffer.Map(DmaBufAccess.ReadWrite))
            using (var cpu = map.BeginAccess(DmaBufAccess.Write))
            {
                Pattern.Fill(cpu.Span, 0x77);
            }

            using var inVgem = render.ImportDmaBuf(buffer);
            oracle.ExpectClosedAtEnd(inVgem);
            using (var back = render.ExportDmaBuf(inVgem))
            using (var map = back.Map(DmaBufAccess.Read))
            using (var cpu = map.BeginAccess(DmaBufAccess.Read))
            {
                Assert.Equal(buffer.Identity, back.Identity);
                Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 0x77));
            }

            using var description = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier, [new DmaBufPlane(buffer.Duplicate(), 0, 256)]);
            using var inVkms = vkms.ImportBuffer(description);
            oracle.ExpectClosedAtEnd(inVkms.Handles[0]);
            using var fb = vkms.AddFramebuffer(inVkms);
            Assert.NotEqual(0u, fb.Id);
        }

        oracle.Verify();
    }

    [Fact]
    public void The_access_mode_asked_for_is_the_fds_access_mode()
    {
        KernelEnv.RequireCapability("dma-heap");
        using var oracle = new LeakOracle();
        using (var heap = DmaHeap.Open())
        using (var readOnly = heap.Allocate(4096, DmaBufExportFlags.None))
        using (var readWrite = heap.Allocate(4096, DmaBufExportFlags.ReadWrite))
        {
            Assert.Equal(Libc.O_RDWR | Libc.O_CLOEXEC, FdFlags(readWrite) & (3 | Libc.O_CLOEXEC));
            Assert.Equal(Libc.O_RDONLY | Libc.O_CLOEXEC, FdFlags(readOnly) & (3 | Libc.O_CLOEXEC));
            var e = Assert.Throws<DrmException>(() => readOnly.Map(DmaBufAccess.Write));
            ErrnoAssert.Equal(Interop.Errno.EACCES, e);
            using (readOnly.Map(DmaBufAccess.Read))
            {
            }

            using (readWrite.Map(DmaBufAccess.ReadWrite))
            {
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void Zero_and_huge_sizes_are_refused_cleanly()
    {
        KernelEnv.RequireCapability("dma-heap");
        using var oracle = new LeakOracle();
        using (var heap = DmaHeap.Open())
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => heap.Allocate(0));
            Assert.Throws<ArgumentOutOfRangeException>(() => heap.Allocate(-4096));
            // 4 TiB: more than the machine has. Refused before the ioctl: Linux 6.12's system heap would allocate page
            // after page until the OOM killer ends this process (it has no size check of its own).
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => heap.Allocate(1L << 42));
            Assert.Contains("4398046511104 bytes is more than the", e.Message, StringComparison.Ordinal);
            Assert.Contains("OOM killer", e.Message, StringComparison.Ordinal);

            // Below the API the kernel refuses a zero length itself, and flags outside O_CLOEXEC | O_ACCMODE.
            Assert.Equal(0, Libc.Open(heap.Path, Libc.O_RDONLY | Libc.O_CLOEXEC, out int fd));
            try
            {
                ErrnoAssert.Equal(Errno.EINVAL, DmaHeapUapi.Allocate(fd, 0, (uint)Libc.O_CLOEXEC, out _));
                ErrnoAssert.Equal(Errno.EINVAL, DmaHeapUapi.Allocate(fd, 4096, (uint)Libc.O_NONBLOCK, out _));
            }
            finally
            {
                Libc.Close(fd);
            }
        }

        oracle.Verify();
    }

    /// <summary>The fd's open flags as /proc/self/fdinfo shows them (octal).</summary>
    private static int FdFlags(DmaBuf buffer)
    {
        string line = File.ReadLines($"/proc/self/fdinfo/{buffer.FileDescriptor}").First(l => l.StartsWith("flags:", StringComparison.Ordinal));
        return Convert.ToInt32(line[6..].Trim(), 8);
    }
}
