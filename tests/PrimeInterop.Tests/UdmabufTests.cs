using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using Errno = PrimeInterop.Interop.Errno;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// udmabuf (kernel A): dma-bufs over sealed memfd pages, and the kernel's rules for the memfd. The rule checks run
/// everywhere; every test that opens /dev/udmabuf carries Category=Kernel.
/// </summary>
public sealed class UdmabufTests
{
    private static readonly int Page = Environment.SystemPageSize;

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void Bytes_written_through_the_memfd_read_through_the_mapping_and_a_vgem_import_and_back()
    {
        KernelEnv.RequireCapability("udmabuf");
        using var oracle = new LeakOracle();
        using (var render = KernelEnv.OpenVgemRender())
        using (var memfd = Udmabuf.CreateMemfd(4 * Page))
        {
            byte[] bytes = new byte[4 * Page];
            Pattern.Fill(bytes, 0x10);
            RandomAccess.Write(memfd, bytes, 0);

            using var buffer = Udmabuf.Create(memfd, 0, 4 * Page);
            Assert.Equal(4 * Page, buffer.Size);
            Assert.True(IsCloseOnExec(buffer));
            using (var map = buffer.Map(DmaBufAccess.Read))
            using (var cpu = map.BeginAccess(DmaBufAccess.Read))
            {
                Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 0x10));
            }

            // Through vgem: the import is the same object; vgem hands back the very dma-buf it imported.
            using var imported = render.ImportDmaBuf(buffer);
            oracle.ExpectClosedAtEnd(imported);
            using var again = render.ExportDmaBuf(imported, DmaBufExportFlags.ReadWrite);
            Assert.Equal(buffer.Identity, again.Identity);
            using (var map = again.Map(DmaBufAccess.ReadWrite))
            {
                using (var cpu = map.BeginAccess(DmaBufAccess.Read))
                {
                    Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 0x10));
                }

                using (var cpu = map.BeginAccess(DmaBufAccess.Write))
                {
                    Pattern.Fill(cpu.Span, 0x20); // and back: written through the dma-buf ...
                }
            }

            Array.Clear(bytes);
            Assert.Equal(bytes.Length, RandomAccess.Read(memfd, bytes, 0)); // ... read through the memfd
            Assert.Equal(-1, Pattern.FirstMismatch(bytes, 0x20));
        }

        oracle.Verify();
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void Create_list_lays_ranges_of_several_memfds_end_to_end()
    {
        KernelEnv.RequireCapability("udmabuf");
        using var oracle = new LeakOracle();
        using (var first = Udmabuf.CreateMemfd(2 * Page))
        using (var second = Udmabuf.CreateMemfd(3 * Page))
        {
            byte[] a = new byte[2 * Page], b = new byte[3 * Page];
            Pattern.Fill(a, 1);
            Pattern.Fill(b, 2);
            RandomAccess.Write(first, a, 0);
            RandomAccess.Write(second, b, 0);

            // The second memfd's last two pages, then the first memfd's first page.
            using var buffer = Udmabuf.Create([new UdmabufRange(second, Page, 2 * Page), new UdmabufRange(first, 0, Page)]);
            Assert.Equal(3 * Page, buffer.Size);
            using var map = buffer.Map(DmaBufAccess.Read);
            using var cpu = map.BeginAccess(DmaBufAccess.Read);
            Assert.True(cpu.Span[..(2 * Page)].SequenceEqual(b.AsSpan(Page, 2 * Page)));
            Assert.True(cpu.Span[(2 * Page)..].SequenceEqual(a.AsSpan(0, Page)));
        }

        oracle.Verify();
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void The_memfd_can_be_closed_after_creation_and_the_buffer_lives_on()
    {
        KernelEnv.RequireCapability("udmabuf");
        using var oracle = new LeakOracle();
        DmaBuf buffer;
        using (var memfd = Udmabuf.CreateMemfd(2 * Page, "closed-early"))
        {
            byte[] bytes = new byte[2 * Page];
            Pattern.Fill(bytes, 7);
            RandomAccess.Write(memfd, bytes, 0);
            buffer = Udmabuf.Create(memfd, 0, 2 * Page);
        }

        using (buffer)
        {
            Assert.DoesNotContain(LeakOracle.FdTable().Values, t => t.Contains("closed-early", StringComparison.Ordinal));
            using var map = buffer.Map(DmaBufAccess.Read);
            using var cpu = map.BeginAccess(DmaBufAccess.Read);
            Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 7));
        }

        // Given only a size, the library makes, seals and closes the memfd itself: one new fd, the dma-buf.
        var before = LeakOracle.FdTable();
        using (var own = Udmabuf.Create(3 * Page))
        {
            var added = LeakOracle.FdTable().Where(e => !before.ContainsKey(e.Key)).ToList();
            Assert.Equal([own.FileDescriptor], added.Select(e => e.Key));
            Assert.StartsWith("/dmabuf:", added[0].Value, StringComparison.Ordinal);
            using var map = own.Map(DmaBufAccess.ReadWrite);
            using var cpu = map.BeginAccess(DmaBufAccess.ReadWrite);
            Pattern.Fill(cpu.Span, 9);
            Assert.Equal(-1, Pattern.FirstMismatch(cpu.Span, 9));
        }

        oracle.Verify();
    }

    /// <summary>Runs everywhere (no udmabuf needed): the checks come before /dev/udmabuf is opened.</summary>
    [Fact]
    public void Bad_memfds_and_ranges_get_the_documented_errors_before_any_ioctl_and_leak_nothing()
    {
        using var oracle = new LeakOracle();
        using (var unsealed = RawMemfd(4 * Page, 0))
        using (var writeSealed = RawMemfd(4 * Page, Memfd.F_SEAL_SHRINK | Memfd.F_SEAL_WRITE))
        using (var good = Udmabuf.CreateMemfd(4 * Page))
        using (var notMemfd = File.OpenHandle("/dev/null"))
        {
            Assert.Equal(0, Memfd.GetSeals((int)good.DangerousGetHandle(), out int seals));
            Assert.Equal(Memfd.F_SEAL_SHRINK | Memfd.F_SEAL_GROW | Memfd.F_SEAL_SEAL, seals);
            Assert.Equal(4 * Page, RandomAccess.GetLength(good));
            Assert.True(UdmabufTests.IsCloseOnExec(good));

            var e = Assert.Throws<ArgumentException>(() => Udmabuf.Create(unsealed, 0, Page));
            Assert.Contains("lacks F_SEAL_SHRINK", e.Message, StringComparison.Ordinal);
            e = Assert.Throws<ArgumentException>(() => Udmabuf.Create(writeSealed, 0, Page));
            Assert.Contains("has F_SEAL_WRITE", e.Message, StringComparison.Ordinal);
            using (var futureSealed = RawMemfd(4 * Page, Memfd.F_SEAL_SHRINK | Memfd.F_SEAL_FUTURE_WRITE))
            {
                e = Assert.Throws<ArgumentException>(() => Udmabuf.Create(futureSealed, 0, Page));
                Assert.Contains("has F_SEAL_FUTURE_WRITE", e.Message, StringComparison.Ordinal);
            }

            e = Assert.Throws<ArgumentException>(() => Udmabuf.Create(notMemfd, 0, Page));
            Assert.Contains("not a sealable memfd", e.Message, StringComparison.Ordinal);
            e = Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create(good, 100, Page));
            Assert.Contains("multiple of the page size", e.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create(good, 0, Page + 1));
            Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create(good, 0, 0));
            Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create(good, -Page, Page));
            e = Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create(good, 2 * Page, 3 * Page));
            Assert.Contains("beyond the end of the", e.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create(good, long.MaxValue - (Page - 1), Page)); // no overflow
            e = Assert.Throws<ArgumentException>(() => Udmabuf.Create([new UdmabufRange(good, 0, Page), new UdmabufRange(unsealed, 0, Page)]));
            Assert.Contains("ranges[1]", e.Message, StringComparison.Ordinal); // in a list, the message names the range
            Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create([]));
            Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.CreateMemfd(Page + 1));
            good.Dispose();
            Assert.Throws<ObjectDisposedException>(() => Udmabuf.Create(good, 0, Page));
        }

        oracle.Verify();
    }

    /// <summary>Runs everywhere: the sum is checked before /dev/udmabuf is opened (on kernel A, see NoEscapeTests).</summary>
    [Fact]
    public void Three_ranges_of_2_to_the_62_bytes_are_an_argument_error_not_an_overflow() => RangesAddingUpPastLongMaxValueAreRefused();

    /// <summary>
    /// Three ranges of a 2^62-byte memfd (sparse: nothing is allocated) add up past long.MaxValue: before, the sum
    /// overflowed into an OverflowException in the error path, after the kernel refused the size.
    /// </summary>
    internal static void RangesAddingUpPastLongMaxValueAreRefused()
    {
        using var oracle = new LeakOracle();
        using (var memfd = Udmabuf.CreateMemfd(1L << 62))
        {
            var range = new UdmabufRange(memfd, 0, 1L << 62);
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => Udmabuf.Create([range, range, range]));
            Assert.Equal("ranges", e.ParamName);
            Assert.Contains("add up to more than", e.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    /// <summary>Runs everywhere: where there is no udmabuf the range checks (which read the size) still run before the open fails.</summary>
    [Fact]
    public void Udmabuf_Create_leaves_the_callers_memfd_offset_alone_so_the_next_write_works() => CreateLeavesTheMemfdOffsetAlone();

    /// <summary>
    /// The caller writes 100 bytes (its file offset is then 100), makes a udmabuf of the memfd, and writes on: before,
    /// the size was read with lseek(SEEK_END), which left the offset at the end, where the sealed memfd cannot grow
    /// (the next write failed with EPERM).
    /// </summary>
    internal static unsafe void CreateLeavesTheMemfdOffsetAlone()
    {
        using var oracle = new LeakOracle();
        using (var memfd = Udmabuf.CreateMemfd(2 * Page))
        {
            int fd = (int)memfd.DangerousGetHandle();
            byte* bytes = stackalloc byte[100];
            Assert.Equal(100L, Syscall.write(fd, bytes, 100));
            try
            {
                using var buffer = Udmabuf.Create(memfd, 0, 2 * Page);
                Assert.Equal(2 * Page, buffer.Size);
            }
            catch (DrmException e) when (!Udmabuf.IsAvailable && e.IsNotFound)
            {
                // no /dev/udmabuf here: the checks ran all the same, before the open
            }

            Assert.Equal(100L, Syscall.lseek(fd, 0, SeekFlags.SEEK_CUR));
            Assert.Equal(100L, Syscall.write(fd, bytes, 100)); // before: -1, EPERM (F_SEAL_GROW at the end)
        }

        oracle.Verify();
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void The_kernel_refuses_the_same_memfds_and_ranges_itself()
    {
        KernelEnv.RequireCapability("udmabuf");
        using var oracle = new LeakOracle();
        using (var unsealed = RawMemfd(4 * Page, 0))
        using (var writeSealed = RawMemfd(4 * Page, Memfd.F_SEAL_SHRINK | Memfd.F_SEAL_WRITE))
        using (var good = Udmabuf.CreateMemfd(4 * Page))
        using (var notMemfd = File.OpenHandle("/dev/null"))
        {
            // Below the API, UDMABUF_CREATE refuses what the library refuses: the library's rules are the kernel's.
            Assert.Equal(0, Libc.Open(Udmabuf.DevicePath, Libc.O_RDWR | Libc.O_CLOEXEC, out int device));
            try
            {
                ErrnoAssert.Equal(Errno.EINVAL, RawCreate(device, unsealed, 0, Page));
                ErrnoAssert.Equal(Errno.EINVAL, RawCreate(device, writeSealed, 0, Page));
                ErrnoAssert.Equal(Errno.EINVAL, RawCreate(device, good, 100, Page));
                ErrnoAssert.Equal(Errno.EINVAL, RawCreate(device, good, 0, Page + 1));
                ErrnoAssert.Equal(Errno.EBADFD, RawCreate(device, notMemfd, 0, Page)); // check_memfd_seals: not shmem
                int beyond = RawCreate(device, good, 2 * Page, 3 * Page);
                Measurements.Record($"udmabuf: the kernel answers a range beyond the memfd with {(beyond == 0 ? "success" : Errno.Name(beyond))}");
                ErrnoAssert.Equal(Errno.EINVAL, beyond); // memfd_pin_folios: end >= i_size
                Assert.Equal(0, RawCreate(device, good, Page, 3 * Page));
            }
            finally
            {
                Libc.Close(device);
            }

            // More than size_limit_mb (64 MiB by default): the kernel's EINVAL, with the limit named.
            var e = Assert.Throws<DrmException>(() => Udmabuf.Create(128L << 20));
            ErrnoAssert.Equal(Interop.Errno.EINVAL, e);
            Assert.Equal(nameof(Interop.UdmabufUapi.UDMABUF_CREATE), e.Operation);
            Assert.Contains("size_limit_mb", e.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void A_udmabuf_imports_into_vkms_and_becomes_a_framebuffer()
    {
        KernelEnv.RequireCapability("udmabuf");
        KernelEnv.RequireCapability("vkms");
        using var oracle = new LeakOracle();
        using (var vkms = KernelEnv.OpenVkms())
        using (var description = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier,
            [new DmaBufPlane(Udmabuf.Create(64 * 64 * 4), 0, 64 * 4)]))
        {
            using var imported = vkms.ImportBuffer(description);
            oracle.ExpectClosedAtEnd(imported.Handles[0]);
            using var fb = vkms.AddFramebuffer(imported);
            Assert.NotEqual(0u, fb.Id);
            Assert.Equal(2, imported.Handles[0].ReferenceCount);
        }

        oracle.Verify();
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public async Task A_udmabuf_travels_over_a_socket_and_maps_on_the_other_side()
    {
        KernelEnv.RequireCapability("udmabuf");
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        using (var buffer = Udmabuf.Create(64 * 64 * 4))
        {
            using (var map = buffer.Map(DmaBufAccess.Write))
            using (var cpu = map.BeginAccess(DmaBufAccess.Write))
            {
                Pattern.Fill(cpu.Span, 0x55);
            }

            using (var sent = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier, [new DmaBufPlane(buffer.Duplicate(), 0, 256)]))
            {
                await pair.A.SendDmaBufAsync(sent, TestContext.Current.CancellationToken);
            }

            using var received = await pair.B.ReceiveDmaBufAsync(TestContext.Current.CancellationToken);
            Assert.NotNull(received);
            DmaBuf arrived = received.Planes[0].Buffer;
            Assert.Equal(buffer.Identity, arrived.Identity);
            Assert.NotEqual(buffer.FileDescriptor, arrived.FileDescriptor);
            using var theirs = arrived.Map(DmaBufAccess.Read);
            using var read = theirs.BeginAccess(DmaBufAccess.Read);
            Assert.Equal(-1, Pattern.FirstMismatch(read.Span, 0x55));
        }

        oracle.Verify();
    }

    internal static bool IsCloseOnExec(SafeHandle h)
    {
        Assert.Equal(0, TestLibc.IsCloseOnExec((int)h.DangerousGetHandle(), out bool cloexec));
        return cloexec;
    }

    private static SafeFileHandle RawMemfd(long size, int seals)
    {
        Assert.Equal(0, Memfd.Create("raw", Memfd.MFD_CLOEXEC | Memfd.MFD_ALLOW_SEALING, out int fd));
        var file = new SafeFileHandle(fd, ownsHandle: true);
        Assert.Equal(0, Memfd.Truncate(fd, size));
        if (seals != 0)
        {
            Assert.Equal(0, Memfd.AddSeals(fd, seals));
        }

        return file;
    }

    private static int RawCreate(int device, SafeHandle memfd, long offset, long size)
    {
        int errno = UdmabufUapi.Create(device, (int)memfd.DangerousGetHandle(), (ulong)offset, (ulong)size, out int fd);
        if (errno == 0)
        {
            Libc.Close(fd);
        }

        return errno;
    }
}
