using System.Runtime.InteropServices;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// The readiness poller's mechanics on plain pipes (no DRM needed, so these run on the host too): one thread for any
/// number of waits; a <see cref="PollWaiter"/> re-armed wait after wait on its one registration, allocating nothing;
/// a wait's end (readiness, cancellation, timeout, close) completing it exactly once, never a later wait; and the
/// one-wait entry point for fds the library does not own giving back its dup and its reference on the caller's handle
/// the moment the wait ends. The kernel tests (FenceWaitTests) cover what dma-bufs and sync_files report.
/// </summary>
public sealed class FdPollerTests
{
    private const uint PollIn = Epoll.EPOLLIN;

    [Fact]
    public async Task A_thousand_pending_waits_share_one_thread_and_all_complete()
    {
        using var oracle = new LeakOracle();
        var pipes = Enumerable.Range(0, 100).Select(_ => TestPipe.Create()).ToList();
        var readers = pipes.Select(p => p.Read).ToList();
        try
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            int threadsBefore = ProcessThreads.CountOutsideRuntimePools();
            int registeredBefore = PollerState.Registered;
            var waits = new List<Task>();
            for (int i = 0; i < 1000; i++)
            {
                waits.Add(FdPoller.Instance.WaitOnceAsync(readers[i % readers.Count], PollIn, "pipe", errorIsReady: false, TestContext.Current.CancellationToken).AsTask());
            }

            Assert.Equal(registeredBefore + 1000, PollerState.Registered);
            await Task.Delay(200, TestContext.Current.CancellationToken);
            int threadsWaiting = ProcessThreads.CountOutsideRuntimePools();
            Assert.Equal(1, ProcessThreads.Named("PrimeInterop poller"));
            Assert.All(waits, t => Assert.False(t.IsCompleted));

            pipes.ForEach(p => TestPipe.WriteByte(p.Write));

            await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.Equal(registeredBefore, PollerState.Registered);
            Measurements.Record($"1000 pipe waits: threads {threadsBefore} before, {threadsWaiting} while pending");
            Assert.True(threadsWaiting - threadsBefore <= 2, $"pending waits added threads outside the runtime's pools: {threadsBefore} -> {threadsWaiting}");
        }
        finally
        {
            pipes.ForEach(p =>
            {
                p.Read.Dispose();
                p.Write.Dispose();
            });
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_single_wait_gives_back_its_dup_and_its_hold_on_the_callers_handle_when_it_ends()
    {
        using var oracle = new LeakOracle();
        var (reader, writer) = TestPipe.Create();
        using (writer)
        {
            int fds = LeakOracle.FdsOnSameFile(writer); // the pipe's two ends; a pending wait adds its dup
            using var cts = new CancellationTokenSource();
            Task canceled = FdPoller.Instance.WaitOnceAsync(reader, PollIn, "pipe", errorIsReady: false, cts.Token).AsTask();
            Assert.Equal(fds + 1, LeakOracle.FdsOnSameFile(writer));

            // The wait holds the reader: disposing it now closes nothing until the wait ends.
            reader.Dispose();
            Assert.Equal(fds + 1, LeakOracle.FdsOnSameFile(writer));
            await cts.CancelAsync();
            var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
            Assert.Equal(cts.Token, e.CancellationToken);
            Assert.Equal(fds - 1, LeakOracle.FdsOnSameFile(writer)); // the dup and the reader itself, closed

            await Assert.ThrowsAsync<ObjectDisposedException>(() => FdPoller.Instance.WaitOnceAsync(reader, PollIn, "pipe", errorIsReady: false, TestContext.Current.CancellationToken).AsTask());
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => FdPoller.Instance.WaitOnceAsync(writer, PollIn, "pipe", errorIsReady: false, new CancellationToken(canceled: true)).AsTask());
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_waiter_rearms_its_one_registration_for_every_wait_and_allocates_nothing()
    {
        const int Waits = 200;
        using var oracle = new LeakOracle();
        var (reader, writer) = TestPipe.Create();
        using (reader)
        using (writer)
        {
            var waiter = NewWaiter(reader);
            try
            {
                int registered = PollerState.Registered;
                await WaitAndDrain(waiter, reader, writer); // the first wait registers the fd (EPOLL_CTL_ADD)
                Assert.Equal(registered + 1, PollerState.Registered);

                // The waits in this method's own loop (one state machine for all), the arming measured on its thread;
                // the completion runs on the poller's thread and the continuation on the pool's.
                long armed = 0;
                long before = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < Waits; i++)
                {
                    Assert.True(waiter.TryAcquire());
                    long a0 = GC.GetAllocatedBytesForCurrentThread();
                    ValueTask wait = waiter.Arm(PollIn, Timeout.InfiniteTimeSpan, errorIsReady: false, CancellationToken.None);
                    armed += GC.GetAllocatedBytesForCurrentThread() - a0;
                    TestPipe.WriteByte(writer);
                    await wait;
                    TestPipe.ReadByte(reader);
                }

                long perWait = (GC.GetTotalAllocatedBytes(precise: true) - before) / Waits;
                Assert.Equal(registered + 1, PollerState.Registered); // re-armed (EPOLL_CTL_MOD), never added again
                Measurements.Record($"waiter: {armed} B armed in {Waits} waits; {perWait} B per wait in the process, the test's own work included");
                Assert.Equal(0, armed);
            }
            finally
            {
                waiter.Close();
            }
        }

        oracle.Verify();

        static async Task WaitAndDrain(PollWaiter waiter, SafeHandle reader, Microsoft.Win32.SafeHandles.SafeFileHandle writer)
        {
            Assert.True(waiter.TryAcquire());
            ValueTask wait = waiter.Arm(PollIn, Timeout.InfiniteTimeSpan, errorIsReady: false, CancellationToken.None);
            TestPipe.WriteByte(writer);
            await wait;
            TestPipe.ReadByte(reader);
        }
    }

    [Fact]
    public async Task A_late_cancellation_or_timer_of_one_wait_never_ends_the_next_one()
    {
        using var oracle = new LeakOracle();
        var (reader, writer) = TestPipe.Create();
        using (reader)
        using (writer)
        {
            var waiter = NewWaiter(reader);
            try
            {
                // Each wait ends by another cause, and the one after it, with the same token and the same timer,
                // waits on: nothing of an ended wait reaches the next.
                using var cts = new CancellationTokenSource();
                for (int i = 0; i < 20; i++)
                {
                    Assert.True(waiter.TryAcquire());
                    ValueTask ready = waiter.Arm(PollIn, TimeSpan.FromMilliseconds(50), errorIsReady: false, cts.Token);
                    TestPipe.WriteByte(writer);
                    await ready;
                    TestPipe.ReadByte(reader);

                    Assert.True(waiter.TryAcquire());
                    await Assert.ThrowsAsync<TimeoutException>(async () => await waiter.Arm(PollIn, TimeSpan.FromMilliseconds(20), errorIsReady: false, cts.Token));
                }

                Assert.True(waiter.TryAcquire());
                Task pending = waiter.Arm(PollIn, Timeout.InfiniteTimeSpan, errorIsReady: false, cts.Token).AsTask();
                await Task.Delay(300, TestContext.Current.CancellationToken); // well past every timer armed above
                Assert.False(pending.IsCompleted, "a timer or registration of an earlier wait ended a later one");
                Assert.Equal(1, PollerState.Armed);
                await cts.CancelAsync();
                var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
                Assert.Equal(cts.Token, e.CancellationToken);

                // Closing the registration ends a pending wait and refuses the next.
                Assert.True(waiter.TryAcquire());
                Task closed = waiter.Arm(PollIn, Timeout.InfiniteTimeSpan, errorIsReady: false, CancellationToken.None).AsTask();
                waiter.Close();
                await Assert.ThrowsAsync<ObjectDisposedException>(() => closed);
                Assert.True(waiter.TryAcquire());
                await Assert.ThrowsAsync<ObjectDisposedException>(() => waiter.Arm(PollIn, Timeout.InfiniteTimeSpan, errorIsReady: false, CancellationToken.None).AsTask());
                Assert.Equal(0, PollerState.Armed);
            }
            finally
            {
                waiter.Close();
            }
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Continuations_leave_the_poller_thread()
    {
        var (reader, writer) = TestPipe.Create();
        using (reader)
        using (writer)
        {
            Task<int> wait = WaitAndReportThread(reader);
            TestPipe.WriteByte(writer);
            int threadId = await wait.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.NotEqual(FdPoller.Instance.Thread.ManagedThreadId, threadId);
        }

        static async Task<int> WaitAndReportThread(SafeHandle h)
        {
            await FdPoller.Instance.WaitOnceAsync(h, PollIn, "pipe", errorIsReady: false, TestContext.Current.CancellationToken);
            return Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>A waiter on a dup of <paramref name="fd"/>, as a handle's second waiter is.</summary>
    private static PollWaiter NewWaiter(SafeHandle fd)
    {
        var waiter = new PollWaiter(FdPoller.Instance, "pipe", (int)fd.DangerousGetHandle());
        Assert.Equal(0, Libc.DupCloseOnExec((int)fd.DangerousGetHandle(), out int dup));
        waiter.SetFd(dup, owns: true);
        return waiter;
    }
}
