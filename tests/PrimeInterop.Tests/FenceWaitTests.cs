using System.Diagnostics;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Awaiting fences: dma-buf readiness (poll semantics) with real vgem fences, sync_file waits, info and merge with
/// sw_sync timelines (kernel A). Every wait is served by the one poller thread.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class FenceWaitTests
{
    private static readonly TimeSpan Pending = TimeSpan.FromMilliseconds(300); // long enough to see a wait not complete

    [Fact]
    public async Task A_pending_write_fence_holds_readers_and_writers_until_it_is_signalled()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        {
            Assert.True(buffer.IsReady(DmaBufAccess.Read) && buffer.IsReady(DmaBufAccess.Write)); // no fences yet
            await buffer.WaitReadyAsync(DmaBufAccess.Write, TestContext.Current.CancellationToken); // completes at once

            using var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write);
            Task read = buffer.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken);
            Task write = buffer.WaitReadyAsync(DmaBufAccess.Write, TestContext.Current.CancellationToken);
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(read.IsCompleted, "a reader must wait for the pending writer");
            Assert.False(write.IsCompleted, "a writer must wait for the pending writer");
            Assert.False(buffer.IsReady(DmaBufAccess.Read));
            Assert.Equal(2, FdPoller.Instance.RegisteredCount);

            fence.Signal();
            await Task.WhenAll(read, write).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.True(buffer.IsReady(DmaBufAccess.ReadWrite));
            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_pending_read_fence_holds_writers_but_not_readers()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        {
            using var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Read);
            // POLLIN waits for writers only: a pending reader does not hold another reader.
            await buffer.WaitReadyAsync(DmaBufAccess.Read, TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Task write = buffer.WaitReadyAsync(DmaBufAccess.Write, TestContext.Current.CancellationToken);
            Task readWrite = buffer.WaitReadyAsync(DmaBufAccess.ReadWrite, TestContext.Current.CancellationToken);
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(write.IsCompleted, "POLLOUT waits for every fence, readers' too");
            Assert.False(readWrite.IsCompleted);

            fence.Signal();
            await Task.WhenAll(write, readWrite).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Cancellation_timeout_and_disposal_end_a_wait_promptly_and_leave_nothing_registered()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        using (var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write))
        {
            int fdsBefore = LeakOracle.FdsOnSameFile(buffer); // fds of this dma-buf: unlike a process-wide count, the runtime cannot move it
            using var cts = new CancellationTokenSource();
            Task canceled = buffer.WaitReadyAsync(DmaBufAccess.Read, cts.Token);
            Assert.Equal(fdsBefore + 1, LeakOracle.FdsOnSameFile(buffer)); // the wait's own dup, registered in epoll
            var clock = Stopwatch.StartNew();
            await cts.CancelAsync();
            var oce = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
            Assert.Equal(cts.Token, oce.CancellationToken);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"cancellation took {clock.Elapsed}");

            clock.Restart();
            var timeout = await Assert.ThrowsAsync<TimeoutException>(() => buffer.WaitReadyAsync(DmaBufAccess.Write, TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken));
            Assert.Contains("within 100 ms", timeout.Message, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a 100 ms timeout took {clock.Elapsed}");
            await Assert.ThrowsAsync<TimeoutException>(() => buffer.WaitReadyAsync(DmaBufAccess.Read, TimeSpan.Zero, TestContext.Current.CancellationToken));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => buffer.WaitReadyAsync(DmaBufAccess.Read, new CancellationToken(canceled: true)));

            // An abandoned wait: nobody cancels it, but the buffer it waits on is disposed. It ends, and its dup closes.
            var copy = buffer.Duplicate();
            Task abandoned = copy.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken);
            Assert.Equal(1, FdPoller.Instance.RegisteredCount);
            copy.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => abandoned).WaitAsync(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            await Assert.ThrowsAsync<ObjectDisposedException>(() => copy.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken));

            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
            Assert.Equal(fdsBefore, LeakOracle.FdsOnSameFile(buffer));
            fence.Signal();
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_thousand_concurrent_waits_complete_after_their_fences_signal_without_more_threads()
    {
        const int Buffers = 100, WaitsPerBuffer = 10;
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        {
            var dumbs = new List<DumbBuffer>();
            var buffers = new List<DmaBuf>();
            var fences = new List<VgemFence>();
            try
            {
                for (int i = 0; i < Buffers; i++)
                {
                    dumbs.Add(card.CreateDumbBuffer(16, 16, 32));
                    buffers.Add(card.ExportDmaBuf(dumbs[i].Handle));
                }

                _ = FdPoller.Instance; // the poller's thread exists from the first wait on; count from there
                await Task.Delay(100, TestContext.Current.CancellationToken);
                int threadsBefore = ProcessThreads.CountOutsideRuntimePools();
                var clock = Stopwatch.StartNew();
                fences.AddRange(dumbs.Select(d => VgemFence.Attach(d.Handle, DmaBufAccess.Write)));
                var waits = new List<Task>(Buffers * WaitsPerBuffer);
                for (int w = 0; w < WaitsPerBuffer; w++)
                {
                    waits.AddRange(buffers.Select(b => b.WaitReadyAsync(w % 2 == 0 ? DmaBufAccess.Read : DmaBufAccess.Write, TestContext.Current.CancellationToken)));
                }

                TimeSpan registered = clock.Elapsed;
                Assert.Equal(Buffers * WaitsPerBuffer, FdPoller.Instance.RegisteredCount);
                await Task.Delay(Pending, TestContext.Current.CancellationToken);
                int threadsWaiting = ProcessThreads.CountOutsideRuntimePools();
                Assert.Equal(1, ProcessThreads.Named("PrimeInterop poller"));
                Assert.All(waits, t => Assert.False(t.IsCompleted));

                clock.Restart();
                fences.ForEach(f => f.Signal());
                await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(8), TestContext.Current.CancellationToken);
                TimeSpan completed = clock.Elapsed;
                int threadsAfter = ProcessThreads.CountOutsideRuntimePools();
                Measurements.Record($"1000 waits: threads {threadsBefore} before, {threadsWaiting} while pending, {threadsAfter} after completion; " +
                    $"registering took {registered.TotalMilliseconds:F0} ms, signal-all to all-complete {completed.TotalMilliseconds:F0} ms");
                Assert.True(threadsWaiting - threadsBefore <= 2, $"pending waits added threads outside the runtime's pools: {threadsBefore} -> {threadsWaiting}");
                Assert.Equal(0, FdPoller.Instance.RegisteredCount);
            }
            finally
            {
                fences.ForEach(f => f.Dispose());
                buffers.ForEach(b => b.Dispose());
                dumbs.ForEach(d => d.Dispose());
            }
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_sync_file_exported_from_a_fenced_buffer_waits_for_the_fence()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        using (var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write))
        using (var sync = buffer.ExportSyncFile(DmaBufAccess.Read))
        {
            Assert.False(sync.IsSignaled);
            var info = sync.GetInfo();
            Assert.Equal(FenceStatus.Active, info.Status);
            var only = Assert.Single(info.Fences);
            Assert.Equal("vgem", only.DriverName);
            Assert.Null(only.Timestamp);

            Task wait = sync.WaitAsync(TestContext.Current.CancellationToken);
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(wait.IsCompleted);
            fence.Signal();
            await wait.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.True(sync.IsSignaled);
            info = sync.GetInfo();
            Assert.Equal(FenceStatus.Signaled, info.Status);
            Assert.NotNull(info.Fences[0].Timestamp);
            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Sync_file_waits_info_and_merge_follow_sw_sync_timelines()
    {
        KernelEnv.RequireCapability("sw_sync");
        using var oracle = new LeakOracle();
        using (var t1 = new SwSyncTimeline())
        using (var t2 = new SwSyncTimeline())
        using (var a = t1.CreateFence(1, "a"))
        using (var a2 = t1.CreateFence(2, "a2"))
        using (var b = t2.CreateFence(1, "b"))
        using (var both = SyncFile.Merge(a, b, "a+b"))
        using (var sameTimeline = SyncFile.Merge(a, a2, "a+a2"))
        {
            Assert.True(UdmabufTests.IsCloseOnExec(both));
            var info = both.GetInfo();
            Assert.Equal("a+b", info.Name);
            Assert.Equal(FenceStatus.Active, info.Status);
            Assert.Equal(2, info.Fences.Count);
            Assert.All(info.Fences, f => Assert.Equal(("sw_sync", FenceStatus.Active), (f.DriverName, f.Status)));
            Assert.Single(sameTimeline.GetInfo().Fences); // one fence per timeline: the later point

            Task waitBoth = both.WaitAsync(TestContext.Current.CancellationToken);
            await Assert.ThrowsAsync<TimeoutException>(() => a.WaitAsync(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken));
            t1.Advance();
            await a.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.False(a2.IsSignaled);
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(waitBoth.IsCompleted, "a merged sync_file waits for all its fences");
            info = both.GetInfo();
            Assert.Equal(FenceStatus.Active, info.Status);
            Assert.Equal([FenceStatus.Active, FenceStatus.Signaled], info.Fences.Select(f => f.Status).Order());

            t2.Advance();
            await waitBoth.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.Equal(FenceStatus.Signaled, both.GetInfo().Status);
            Assert.False(sameTimeline.IsSignaled);
            t1.Advance();
            await sameTimeline.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);

            Assert.Throws<ArgumentOutOfRangeException>(() => SyncFile.Merge(a, b, new string('n', 32)));
            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_sync_file_fence_imported_into_a_buffer_holds_its_readiness()
    {
        KernelEnv.RequireCapability("sw_sync");
        KernelEnv.RequireCapability("udmabuf");
        using var oracle = new LeakOracle();
        using (var timeline = new SwSyncTimeline())
        using (var fence = timeline.CreateFence(1))
        using (var buffer = Udmabuf.Create(Environment.SystemPageSize))
        {
            buffer.ImportSyncFile(fence, DmaBufAccess.Write); // a write fence from a sw_sync timeline
            Task read = buffer.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken);
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(read.IsCompleted);
            timeline.Advance();
            await read.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        }

        oracle.Verify();
    }
}
