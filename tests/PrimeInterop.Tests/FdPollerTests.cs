using System.Diagnostics;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// The readiness poller's mechanics on plain pipes (no DRM needed, so these run on the host too): one thread for
/// any number of waits, and every way a wait ends unregisters it and closes its fd. The kernel tests
/// (FenceWaitTests) cover what dma-bufs and sync_files report.
/// </summary>
public sealed class FdPollerTests
{
    private const uint PollIn = Epoll.EPOLLIN;

    /// <summary>The poller's disposal token (a DmaBuf's or SyncFile's disposal); a pipe has none.</summary>
    private static readonly CancellationToken NeverDisposed = CancellationToken.None;

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
            var waits = new List<Task>();
            for (int i = 0; i < 1000; i++)
            {
                waits.Add(FdPoller.Instance.WaitAsync(readers[i % readers.Count], PollIn, Timeout.InfiniteTimeSpan, "pipe", NeverDisposed, TestContext.Current.CancellationToken));
            }

            Assert.Equal(1000, FdPoller.Instance.RegisteredCount);
            await Task.Delay(200, TestContext.Current.CancellationToken);
            int threadsWaiting = ProcessThreads.CountOutsideRuntimePools();
            Assert.Equal(1, ProcessThreads.Named("PrimeInterop poller"));
            Assert.All(waits, t => Assert.False(t.IsCompleted));

            pipes.ForEach(p => TestPipe.WriteByte(p.Write));

            await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
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
    public async Task Cancellation_timeout_and_disposal_unregister_and_close_the_dup()
    {
        using var oracle = new LeakOracle();
        var (reader, writer) = TestPipe.Create();
        using (reader)
        using (writer)
        {
            int fds = LeakOracle.FdsOnSameFile(reader); // the pipe's own two ends; each pending wait adds its dup
            using var cts = new CancellationTokenSource();
            Task canceled = FdPoller.Instance.WaitAsync(reader, PollIn, Timeout.InfiniteTimeSpan, "pipe", NeverDisposed, cts.Token);
            Assert.Equal(fds + 1, LeakOracle.FdsOnSameFile(reader));
            Assert.Equal(1, FdPoller.Instance.RegisteredCount);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdsOnSameFile(reader)));

            var clock = Stopwatch.StartNew();
            await Assert.ThrowsAsync<TimeoutException>(() => FdPoller.Instance.WaitAsync(reader, PollIn, TimeSpan.FromMilliseconds(50), "pipe", NeverDisposed, TestContext.Current.CancellationToken));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a 50 ms timeout took {clock.Elapsed}");
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdsOnSameFile(reader)));

            using var disposal = new CancellationTokenSource();
            Task disposed = FdPoller.Instance.WaitAsync(reader, PollIn, Timeout.InfiniteTimeSpan, "pipe", disposal.Token, TestContext.Current.CancellationToken);
            await disposal.CancelAsync();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => disposed);
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdsOnSameFile(reader)));

            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => FdPoller.Instance.WaitAsync(reader, PollIn, TimeSpan.FromMilliseconds(-5), "pipe", NeverDisposed, TestContext.Current.CancellationToken));

            // Ready already: completes without registering.
            TestPipe.WriteByte(writer);
            await FdPoller.Instance.WaitAsync(reader, PollIn, TimeSpan.Zero, "pipe", NeverDisposed, TestContext.Current.CancellationToken);
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdsOnSameFile(reader)));
        }

        oracle.Verify();
    }

    [Fact]
    public async Task The_caller_may_close_its_fd_while_waiting_and_continuations_leave_the_poller_thread()
    {
        // Counted on the pipe itself, not the whole fd table: one CI run saw two fds of some other pipe appear in the
        // process during this test (fd 152 and 154, one pipe), which the whole-table oracle reported as this test's.
        var (reader, writer) = TestPipe.Create();
        using (writer)
        {
            Task<int> wait = WaitAndReportThread(reader);
            reader.Dispose(); // the wait holds its own dup
            Assert.Equal(2, LeakOracle.FdsOnSameFile(writer)); // the writer and the wait's dup of the reader
            TestPipe.WriteByte(writer);
            int threadId = await wait.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.NotEqual(FdPoller.Instance.Thread.ManagedThreadId, threadId);
            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
            Assert.Equal(1, LeakOracle.FdsOnSameFile(writer)); // the dup was closed before the wait completed
        }

        static async Task<int> WaitAndReportThread(System.Runtime.InteropServices.SafeHandle h)
        {
            await FdPoller.Instance.WaitAsync(h, PollIn, Timeout.InfiniteTimeSpan, "pipe", NeverDisposed, TestContext.Current.CancellationToken);
            return Environment.CurrentManagedThreadId;
        }
    }
}
