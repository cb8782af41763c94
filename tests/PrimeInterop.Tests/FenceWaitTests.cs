using System.Diagnostics;
using System.Runtime.CompilerServices;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Awaiting fences: dma-buf readiness (poll semantics) with real vgem fences, sync_file waits, info and merge with
/// sw_sync timelines (kernel A). Every wait is served by the one poller thread, through one registration per buffer
/// (a second one for a wait that overlaps the first), re-armed for each wait and removed when the buffer goes.
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
            await buffer.WaitReadyAsync(DmaBufAccess.Write, TestContext.Current.CancellationToken); // armed, and ready at once
            int registered = PollerState.Registered;

            using var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write);
            Task read = buffer.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken).AsTask();
            Task write = buffer.WaitReadyAsync(DmaBufAccess.Write, TestContext.Current.CancellationToken).AsTask();
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(read.IsCompleted, "a reader must wait for the pending writer");
            Assert.False(write.IsCompleted, "a writer must wait for the pending writer");
            Assert.False(buffer.IsReady(DmaBufAccess.Read));
            Assert.Equal(2, PollerState.Armed);
            Assert.Equal(registered + 1, PollerState.Registered); // the overlapping wait: a registration of its own

            fence.Signal();
            await Task.WhenAll(read, write).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.True(buffer.IsReady(DmaBufAccess.ReadWrite));
            Assert.Equal(0, PollerState.Armed);
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
            Task write = buffer.WaitReadyAsync(DmaBufAccess.Write, TestContext.Current.CancellationToken).AsTask();
            Task readWrite = buffer.WaitReadyAsync(DmaBufAccess.ReadWrite, TestContext.Current.CancellationToken).AsTask();
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
            int registered = PollerState.Registered;
            using var cts = new CancellationTokenSource();
            Task canceled = buffer.WaitReadyAsync(DmaBufAccess.Read, cts.Token).AsTask();
            Assert.Equal(fdsBefore, LeakOracle.FdsOnSameFile(buffer)); // the buffer's own fd is registered: no dup
            Assert.Equal(registered + 1, PollerState.Registered);
            var clock = Stopwatch.StartNew();
            await cts.CancelAsync();
            var oce = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
            Assert.Equal(cts.Token, oce.CancellationToken);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"cancellation took {clock.Elapsed}");

            clock.Restart();
            var timeout = await Assert.ThrowsAsync<TimeoutException>(() => buffer.WaitReadyAsync(DmaBufAccess.Write, TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken).AsTask());
            Assert.Contains("within 100 ms", timeout.Message, StringComparison.Ordinal);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a 100 ms timeout took {clock.Elapsed}");
            await Assert.ThrowsAsync<TimeoutException>(() => buffer.WaitReadyAsync(DmaBufAccess.Read, TimeSpan.Zero, TestContext.Current.CancellationToken).AsTask());
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => buffer.WaitReadyAsync(DmaBufAccess.Read, new CancellationToken(canceled: true)).AsTask());
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => buffer.WaitReadyAsync(DmaBufAccess.Read, TimeSpan.FromMilliseconds(-5), TestContext.Current.CancellationToken).AsTask());
            Assert.Equal(registered + 1, PollerState.Registered); // every wait re-armed the one registration
            Assert.Equal(0, PollerState.Armed);

            // An abandoned wait: nobody cancels it, but the buffer it waits on is disposed. It ends, and the buffer's
            // registration leaves epoll before its fd closes.
            var copy = buffer.Duplicate();
            Task abandoned = copy.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken).AsTask();
            Assert.Equal(registered + 2, PollerState.Registered);
            copy.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => abandoned).WaitAsync(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            await Assert.ThrowsAsync<ObjectDisposedException>(() => copy.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken).AsTask());

            Assert.Equal(registered + 1, PollerState.Registered);
            Assert.Equal(fdsBefore, LeakOracle.FdsOnSameFile(buffer));
            fence.Signal();
        }

        oracle.Verify();
    }

    // A compositor awaits the same buffers frame after frame: each wait re-arms the buffer's one registration
    // (EPOLL_CTL_MOD), and without a cancellation token it allocates nothing.
    [Fact]
    public async Task Waits_on_one_buffer_rearm_its_one_registration_and_allocate_nothing()
    {
        const int Frames = 100;
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        {
            await Frame(dumb, buffer); // registers the buffer
            int registered = PollerState.Registered;
            int fds = LeakOracle.FdCount();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < Frames; i++)
            {
                await Frame(dumb, buffer);
            }

            long perWait = (GC.GetTotalAllocatedBytes(precise: true) - before) / Frames;
            Measurements.Record($"fence waits on one buffer: {perWait} B per frame (all threads: the wait, the fence object, the test's awaits)");
            Assert.Equal(registered, PollerState.Registered);
            Assert.Equal(fds, LeakOracle.FdCount());

            // The wait alone, without the test's fence objects: the waiter is reused, nothing is allocated.
            Assert.True(perWait < 200, $"{perWait} B per frame");
        }

        oracle.Verify();

        static async Task Frame(DumbBuffer dumb, DmaBuf buffer)
        {
            using var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write);
            ValueTask ready = buffer.WaitReadyAsync(DmaBufAccess.Read);
            fence.Signal();
            await ready;
        }
    }

    // The buffer's own fd is what epoll watches. Disposed while registered, it leaves epoll before its fd closes, even
    // while another fd keeps the dma-buf alive: a buffer that gets the same fd number next is watched alone, and the
    // first buffer's fence completes nothing of it.
    [Fact]
    public async Task A_buffer_disposed_while_registered_leaves_epoll_before_its_fd_number_is_reused()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var first = card.CreateDumbBuffer(16, 16, 32))
        using (var second = card.CreateDumbBuffer(16, 16, 32))
        {
            int registered = PollerState.Registered;
            var a = card.ExportDmaBuf(first.Handle);
            using var keep = a.Duplicate(); // a's dma-buf outlives a's fd
            int number = a.FileDescriptor;
            using (var fenceA = VgemFence.Attach(first.Handle, DmaBufAccess.Write))
            {
                Task waitA = a.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken).AsTask();
                Assert.Equal(registered + 1, PollerState.Registered);
                a.Dispose();
                await Assert.ThrowsAsync<ObjectDisposedException>(() => waitA).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
                Assert.Equal(registered, PollerState.Registered);

                using var b = card.ExportDmaBuf(second.Handle);
                Assert.Equal(number, b.FileDescriptor); // the lowest free number: a's
                using var fenceB = VgemFence.Attach(second.Handle, DmaBufAccess.Write);
                Task waitB = b.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken).AsTask();
                fenceA.Signal(); // a's dma-buf, still alive through keep, becomes readable
                await Task.Delay(Pending, TestContext.Current.CancellationToken);
                Assert.False(waitB.IsCompleted, "a's registration, left behind under the reused number, completed b's wait");
                fenceB.Signal();
                await waitB.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            }
        }

        oracle.Verify();
    }

    // A DmaBuf dropped without Dispose, with a wait pending on it: its finalizer ends the wait and takes the fd out of
    // epoll, where the wait used to hold a dup of the fd until the fence signalled (a fence nobody signals: never).
    [Fact]
    public async Task A_finalized_DmaBuf_ends_its_pending_wait_and_leaves_nothing_open()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write))
        {
            int registered = PollerState.Registered;
            Task abandoned = WaitOnADroppedBuffer(card, dumb);
            Assert.Equal(registered + 1, PollerState.Registered);
            for (int i = 0; i < 3 && !abandoned.IsCompleted; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            await Assert.ThrowsAsync<ObjectDisposedException>(() => abandoned).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.Equal(registered, PollerState.Registered);
            Assert.Equal(0, PollerState.Armed);
            fence.Signal();
        }

        oracle.Verify(); // the dropped buffer's fd is closed

        [MethodImpl(MethodImplOptions.NoInlining)] // nothing of the buffer stays on the test's stack
        static Task WaitOnADroppedBuffer(DrmDevice card, DumbBuffer dumb) =>
            card.ExportDmaBuf(dumb.Handle).WaitReadyAsync(DmaBufAccess.Read).AsTask();
    }

    // The same token for every frame's wait, as a compositor's loop passes its shutdown token: the registrations of
    // waits that completed are given back, and cancelling ends the one pending wait.
    [Fact]
    public async Task One_token_for_many_waits_cancels_only_the_pending_one()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(16, 16, 32))
        using (var buffer = card.ExportDmaBuf(dumb.Handle))
        using (var cts = new CancellationTokenSource())
        {
            for (int i = 0; i < 20; i++)
            {
                using var f = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write);
                ValueTask ready = buffer.WaitReadyAsync(DmaBufAccess.Read, cts.Token);
                f.Signal();
                await ready;
            }

            using var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write);
            Task pending = buffer.WaitReadyAsync(DmaBufAccess.Read, cts.Token).AsTask();
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(pending.IsCompleted);
            await cts.CancelAsync();
            Assert.Equal(cts.Token, (await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending)).CancellationToken);
            fence.Signal();
            await buffer.WaitReadyAsync(DmaBufAccess.Read, TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken); // the registration serves on
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
                    waits.AddRange(buffers.Select(b => b.WaitReadyAsync(w % 2 == 0 ? DmaBufAccess.Read : DmaBufAccess.Write, TestContext.Current.CancellationToken).AsTask()));
                }

                TimeSpan registered = clock.Elapsed;
                Assert.Equal(Buffers * WaitsPerBuffer, PollerState.Armed);
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
                Assert.Equal(0, PollerState.Armed);
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

            Task wait = sync.WaitAsync(TestContext.Current.CancellationToken).AsTask();
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(wait.IsCompleted);
            fence.Signal();
            await wait.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.True(sync.IsSignaled);
            info = sync.GetInfo();
            Assert.Equal(FenceStatus.Signaled, info.Status);
            Assert.NotNull(info.Fences[0].Timestamp);
            Assert.Equal(0, PollerState.Armed);
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

            Task waitBoth = both.WaitAsync(TestContext.Current.CancellationToken).AsTask();
            await Assert.ThrowsAsync<TimeoutException>(() => a.WaitAsync(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken).AsTask());
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
            Assert.Equal(0, PollerState.Armed);
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
            Task read = buffer.WaitReadyAsync(DmaBufAccess.Read, TestContext.Current.CancellationToken).AsTask();
            await Task.Delay(Pending, TestContext.Current.CancellationToken);
            Assert.False(read.IsCompleted);
            timeline.Advance();
            await read.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        }

        oracle.Verify();
    }
}
