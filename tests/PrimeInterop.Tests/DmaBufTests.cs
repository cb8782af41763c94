using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>dma-buf fd features: size, identity, name, CPU access brackets, sync_file.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class DmaBufTests
{
    [Fact]
    public void Size_comes_from_lseek_and_matches_the_dumb_buffer()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(100, 30, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        {
            Assert.Equal(400u, dumb.Pitch);
            Assert.Equal((long)dumb.Size, dmaBuf.Size);
            Assert.True(dmaBuf.Size >= 100 * 30 * 4);
            Assert.Equal(0, dmaBuf.Size % Environment.SystemPageSize);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Size_and_identity_read_first_by_many_threads_at_once_agree_with_the_kernel()
    {
        // Both are read on first use into an object shared by whoever races to make it: every reader must see the
        // kernel's values, never a half-published identity or the "not read yet" size.
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var reference = card.ExportDmaBuf(dumb.Handle))
        {
            Assert.True(Interop.Libc.Stat(reference.FileDescriptor, out ulong dev, out ulong ino, out _, out _) == 0);
            for (int round = 0; round < 20; round++)
            {
                using var dmaBuf = card.ExportDmaBuf(dumb.Handle);
                using var start = new ManualResetEventSlim();
                var readers = Enumerable.Range(0, 8).Select(i => Task.Run(() =>
                {
                    start.Wait();
                    if (i % 2 == 0)
                    {
                        return (dmaBuf.Identity, dmaBuf.Size);
                    }

                    long size = dmaBuf.Size; // half the readers make the shared object for the size first
                    return (dmaBuf.Identity, size);
                })).ToArray();
                start.Set();
                foreach (var (identity, size) in await Task.WhenAll(readers))
                {
                    Assert.Equal(new DmaBufIdentity(dev, ino), identity);
                    Assert.Equal((long)dumb.Size, size);
                }
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void SetName_is_visible_in_proc_fdinfo()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        {
            Assert.Null(dmaBuf.Name);
            dmaBuf.SetName("prime-interop test");
            Assert.Equal("prime-interop test", dmaBuf.Name);
            string fdinfo = File.ReadAllText($"/proc/self/fdinfo/{dmaBuf.FileDescriptor}");
            Assert.Contains("exp_name:\tdrm", fdinfo, StringComparison.Ordinal);
            Assert.Contains("name:\tprime-interop test", fdinfo, StringComparison.Ordinal);
            using var other = dmaBuf.Duplicate(); // the name belongs to the buffer, not the fd
            Assert.Equal("prime-interop test", other.Name);
            Assert.Throws<ArgumentOutOfRangeException>(() => dmaBuf.SetName(new string('x', 32)));
        }

        oracle.Verify();
    }

    [Theory]
    [InlineData(DmaBufAccess.Read)]
    [InlineData(DmaBufAccess.Write)]
    [InlineData(DmaBufAccess.ReadWrite)]
    public void Cpu_access_scopes_pair_sync_start_and_end(DmaBufAccess access)
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite))
        using (var mapping = dmaBuf.Map(DmaBufAccess.ReadWrite))
        {
            for (int round = 0; round < 3; round++)
            {
                using var cpu = mapping.BeginAccess(access);
                Assert.Equal(mapping.Length, cpu.Span.Length);
                if ((access & DmaBufAccess.Write) != 0)
                {
                    Pattern.Fill(cpu.Span, (uint)round);
                }
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void A_forgotten_mapping_is_unmapped_by_the_finalizer_and_lets_the_fd_close()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        {
            var dmaBuf = card.ExportDmaBuf(dumb.Handle);
            string maps = "/dmabuf:";
            // No GC until both checks have looked: one there would run the finalizer under test early (reading
            // /proc/self/maps allocates enough to start one), and the checks would miss the mapping they look for.
            Assert.True(GC.TryStartNoGCRegion(64 << 20), "could not enter a no-GC region");
            MapAndForget(dmaBuf);
            string mapsWhileForgotten = File.ReadAllText("/proc/self/maps");
            dmaBuf.Dispose(); // the forgotten mapping still holds the fd
            string fdsWhileForgotten = string.Join('\n', LeakOracle.FdTable().Values);
            GC.EndNoGCRegion();
            Assert.Contains(maps, mapsWhileForgotten, StringComparison.Ordinal);
            Assert.Contains("/dmabuf:", fdsWhileForgotten, StringComparison.Ordinal);

            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.DoesNotContain(maps, File.ReadAllText("/proc/self/maps"), StringComparison.Ordinal);
        }

        oracle.Verify(); // and the dma-buf fd is closed

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static void MapAndForget(DmaBuf b) => b.Map(DmaBufAccess.Read);
    }

    [Fact]
    public void Invalid_sync_flags_are_refused_with_a_clear_error()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        using (var mapping = dmaBuf.Map(DmaBufAccess.Read))
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => { using var _ = mapping.BeginAccess((DmaBufAccess)8); });
            Assert.Contains("Read, Write or ReadWrite", e.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentOutOfRangeException>(() => { using var _ = mapping.BeginAccess(0); });

            // Below the API, the kernel refuses flags outside DMA_BUF_SYNC_VALID_FLAGS_MASK the same way.
            int errno = Interop.DmaBufUapi.Sync(dmaBuf.FileDescriptor, 0x10);
            ErrnoAssert.Equal(Interop.Errno.EINVAL, errno);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_read_only_export_cannot_be_mapped_writable()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        {
            var e = Assert.Throws<DrmException>(() => dmaBuf.Map(DmaBufAccess.Write));
            ErrnoAssert.Equal(Interop.Errno.EACCES, e);
            Assert.Contains("DmaBufExportFlags.ReadWrite", e.Message, StringComparison.Ordinal);
        }

        oracle.Verify();
    }

    [Fact]
    public void Fences_export_as_a_sync_file_and_import_back()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        {
            using var fence = dmaBuf.ExportSyncFile(DmaBufAccess.Write);
            Assert.StartsWith("anon_inode:sync_file", Interop.Libc.ReadLink($"/proc/self/fd/{fence.FileDescriptor}"), StringComparison.Ordinal);
            dmaBuf.ImportSyncFile(fence, DmaBufAccess.Write);
            dmaBuf.ImportSyncFile(fence, DmaBufAccess.Read);
            using var again = dmaBuf.ExportSyncFile(DmaBufAccess.Read);
            Assert.NotEqual(fence.FileDescriptor, again.FileDescriptor);
        }

        oracle.Verify();
    }
}
