using System.Diagnostics;
using System.IO.Pipes;
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
        var pipes = Enumerable.Range(0, 100).Select(_ => new AnonymousPipeServerStream(PipeDirection.Out)).ToList();
        var readers = pipes.Select(p => p.ClientSafePipeHandle).ToList();
        try
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
            int threadsBefore = ProcessThreads.Count();
            var waits = new List<Task>();
            for (int i = 0; i < 1000; i++)
            {
                waits.Add(FdPoller.Instance.WaitAsync(readers[i % readers.Count], PollIn, Timeout.InfiniteTimeSpan, "pipe", NeverDisposed, TestContext.Current.CancellationToken));
            }

            Assert.Equal(1000, FdPoller.Instance.RegisteredCount);
            await Task.Delay(200, TestContext.Current.CancellationToken);
            int threadsWaiting = ProcessThreads.Count();
            Assert.All(waits, t => Assert.False(t.IsCompleted));

            foreach (var p in pipes)
            {
                await p.WriteAsync(new byte[] { 1 }, TestContext.Current.CancellationToken);
            }

            await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
            Measurements.Record($"1000 pipe waits: threads {threadsBefore} before, {threadsWaiting} while pending");
            Assert.True(threadsWaiting - threadsBefore <= 2, $"pending waits added threads: {threadsBefore} -> {threadsWaiting}");
        }
        finally
        {
            pipes.ForEach(p =>
            {
                p.DisposeLocalCopyOfClientHandle();
                p.Dispose();
            });
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Cancellation_timeout_and_disposal_unregister_and_close_the_dup()
    {
        using var oracle = new LeakOracle();
        using (var pipe = new AnonymousPipeServerStream(PipeDirection.Out))
        {
            var reader = pipe.ClientSafePipeHandle;
            int fds = LeakOracle.FdCount();
            using var cts = new CancellationTokenSource();
            Task canceled = FdPoller.Instance.WaitAsync(reader, PollIn, Timeout.InfiniteTimeSpan, "pipe", NeverDisposed, cts.Token);
            Assert.Equal(fds + 1, LeakOracle.FdCount());
            Assert.Equal(1, FdPoller.Instance.RegisteredCount);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdCount()));

            var clock = Stopwatch.StartNew();
            await Assert.ThrowsAsync<TimeoutException>(() => FdPoller.Instance.WaitAsync(reader, PollIn, TimeSpan.FromMilliseconds(50), "pipe", NeverDisposed, TestContext.Current.CancellationToken));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"a 50 ms timeout took {clock.Elapsed}");
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdCount()));

            using var disposal = new CancellationTokenSource();
            Task disposed = FdPoller.Instance.WaitAsync(reader, PollIn, Timeout.InfiniteTimeSpan, "pipe", disposal.Token, TestContext.Current.CancellationToken);
            await disposal.CancelAsync();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => disposed);
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdCount()));

            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => FdPoller.Instance.WaitAsync(reader, PollIn, TimeSpan.FromMilliseconds(-5), "pipe", NeverDisposed, TestContext.Current.CancellationToken));

            // Ready already: completes without registering.
            await pipe.WriteAsync(new byte[] { 1 }, TestContext.Current.CancellationToken);
            await FdPoller.Instance.WaitAsync(reader, PollIn, TimeSpan.Zero, "pipe", NeverDisposed, TestContext.Current.CancellationToken);
            Assert.Equal((0, fds), (FdPoller.Instance.RegisteredCount, LeakOracle.FdCount()));
            pipe.DisposeLocalCopyOfClientHandle();
        }

        oracle.Verify();
    }

    [Fact]
    public async Task The_caller_may_close_its_fd_while_waiting_and_continuations_leave_the_poller_thread()
    {
        using var oracle = new LeakOracle();
        using (var pipe = new AnonymousPipeServerStream(PipeDirection.Out))
        {
            var reader = pipe.ClientSafePipeHandle;
            Task<int> wait = WaitAndReportThread(reader);
            pipe.DisposeLocalCopyOfClientHandle(); // the wait holds its own dup
            await pipe.WriteAsync(new byte[] { 1 }, TestContext.Current.CancellationToken);
            int threadId = await wait.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.NotEqual(FdPoller.Instance.Thread.ManagedThreadId, threadId);
            Assert.Equal(0, FdPoller.Instance.RegisteredCount);
        }

        oracle.Verify();

        static async Task<int> WaitAndReportThread(System.Runtime.InteropServices.SafeHandle h)
        {
            await FdPoller.Instance.WaitAsync(h, PollIn, Timeout.InfiniteTimeSpan, "pipe", NeverDisposed, TestContext.Current.CancellationToken);
            return Environment.CurrentManagedThreadId;
        }
    }
}
