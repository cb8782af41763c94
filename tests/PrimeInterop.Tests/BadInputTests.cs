using Microsoft.Win32.SafeHandles;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>Each bad input: a clear error naming the operation, node, handle or fd and errno; nothing leaked.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class BadInputTests
{
    [Fact]
    public void Unknown_handle_fails_with_ENOENT_naming_the_handle()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            using var bogus = card.AdoptHandle(0xdead);
            var e = Assert.Throws<DrmException>(() => card.ExportDmaBuf(bogus));
            ErrnoAssert.Equal(Interop.Errno.ENOENT, e);
            Assert.Equal(nameof(Interop.DrmPrime.DRM_IOCTL_PRIME_HANDLE_TO_FD), e.Operation);
            Assert.Equal(card.Path, e.Target);
            Assert.Equal(0xdeadu, e.GemHandle);
            Assert.Contains($"DRM_IOCTL_PRIME_HANDLE_TO_FD on {card.Path} (GEM handle 57005) failed: ENOENT", e.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    public void Disposed_handle_and_disposed_device_raise_ObjectDisposedException()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            var dumb = card.CreateDumbBuffer(16, 16, 32);
            oracle.ExpectClosedAtEnd(dumb.Handle);
            dumb.Dispose();
            Assert.Throws<ObjectDisposedException>(() => card.ExportDmaBuf(dumb.Handle));
            Assert.Throws<ObjectDisposedException>(() => dumb.Map());
            card.Dispose();
            var e = Assert.Throws<ObjectDisposedException>(() => card.CreateDumbBuffer(16, 16, 32));
            Assert.Contains(card.Path, e.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    public void Handle_of_another_device_is_an_argument_error()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        {
            var e = Assert.Throws<ArgumentException>(() => render.ExportDmaBuf(dumb.Handle));
            Assert.Contains("another open DRM file", e.Message, StringComparison.Ordinal);
            using var card2 = KernelEnv.OpenVgemCard(); // same node, another file: another handle namespace
            Assert.Throws<ArgumentException>(() => card2.ExportDmaBuf(dumb.Handle));
        }

        oracle.Verify();
    }

    [Fact]
    public void Closed_fd_import_fails_cleanly()
    {
        using var oracle = new LeakOracle();
        using (var render = KernelEnv.OpenVgemRender())
        {
            var closed = new SafeFileHandle(IntPtr.Zero, ownsHandle: false);
            closed.Dispose();
            Assert.Throws<ObjectDisposedException>(() => render.ImportDmaBuf(closed));

            using var notOpen = new SafeFileHandle(4000, ownsHandle: false); // a number no fd has
            var e = Assert.Throws<DrmException>(() => render.ImportDmaBuf(notOpen));
            ErrnoAssert.Equal(Interop.Errno.EBADF, e);
            Assert.Equal(4000, e.FileDescriptor);
            Assert.Equal(0, render.OpenObjectCount);
        }

        oracle.Verify();
    }

    [Fact]
    public void Non_dmabuf_fd_is_refused_and_named()
    {
        using var oracle = new LeakOracle();
        using (var render = KernelEnv.OpenVgemRender())
        using (var devNull = File.OpenHandle("/dev/null"))
        {
            var e = Assert.Throws<DrmException>(() => render.ImportDmaBuf(devNull));
            ErrnoAssert.Equal(Interop.Errno.EINVAL, e);
            Assert.Contains("is not a dma-buf", e.Message, StringComparison.Ordinal);
            Assert.Equal(0, render.OpenObjectCount);
            var a = Assert.Throws<ArgumentException>(() => DmaBuf.FromFileDescriptor((int)devNull.DangerousGetHandle(), ownsHandle: false));
            Assert.Contains("/dev/null", a.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    public void Export_flags_outside_cloexec_and_rdwr_are_refused()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => card.ExportDmaBuf(dumb.Handle, (DmaBufExportFlags)0x40));

            // What the kernel itself says to such flags (rig-facts: EINVAL).
            int errno = Interop.DrmPrime.HandleToFd(card.RawFd, dumb.Handle.Value, 0x40, out _);
            ErrnoAssert.Equal(Interop.Errno.EINVAL, errno);
        }

        oracle.Verify();
    }

    [Theory]
    [InlineData(0u, 0u, 32u)]
    [InlineData(64u, 0u, 32u)]
    [InlineData(65536u, 65536u, 32u)]
    [InlineData(uint.MaxValue, 2u, 32u)]
    public void Dumb_buffer_of_zero_or_absurd_size_is_refused(uint width, uint height, uint bpp)
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => card.CreateDumbBuffer(width, height, bpp));
            Assert.Equal(0, card.OpenObjectCount);
        }

        oracle.Verify();
    }

    [Fact]
    public void Dumb_buffer_on_a_render_node_says_it_needs_the_primary_node()
    {
        using var oracle = new LeakOracle();
        using (var render = KernelEnv.OpenVgemRender())
        {
            var e = Assert.Throws<DrmException>(() => render.CreateDumbBuffer(64, 64, 32));
            ErrnoAssert.Equal(Interop.Errno.EACCES, e);
            Assert.Equal(nameof(Interop.DrmModeDumb.DRM_IOCTL_MODE_CREATE_DUMB), e.Operation);
            Assert.Contains("primary node", e.Message, StringComparison.Ordinal);
            Assert.Equal(0, render.OpenObjectCount);
        }

        oracle.Verify();
    }

    [Fact]
    public void Mapping_past_the_end_is_refused()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, 0, dmaBuf.Size + 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, dmaBuf.Size, 4096));
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.Map(DmaBufAccess.Read, 100, 4096));
        }

        oracle.Verify();
    }

    [Fact]
    public void Opening_a_missing_node_names_the_path_and_what_to_do()
    {
        using var oracle = new LeakOracle();
        var e = Assert.Throws<DrmException>(() => DrmDevice.Open("/dev/dri/renderD250"));
        ErrnoAssert.Equal(Interop.Errno.ENOENT, e);
        Assert.Contains("/dev/dri/renderD250", e.Message, StringComparison.Ordinal);
        Assert.Contains("modprobe", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => DrmDevice.Open("/dev/null"));
        oracle.Verify();
    }
}
