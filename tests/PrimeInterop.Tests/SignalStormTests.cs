using System.Collections.Concurrent;
using Mono.Unix.Native;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Signals against the library's calls. A handler installed without SA_RESTART (native/signal-helper.c) makes
/// every interruptible sleep in the kernel return EINTR to user space, so a call that does not retry fails.
/// Signals go only to the test's own threads (tgkill), and the default disposition (ignore) is restored after, so
/// this runs in the test process itself: a child process would cost several seconds per kernel in the rig.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class SignalStormTests
{
    /// <summary>
    /// Threads blocked in recvmsg (blocking socket), in poll (non-blocking socket), and threads issuing ioctls,
    /// dup, mmap and DMA_BUF_IOCTL_SYNC, each sent SIGURG by tgkill as fast as one thread can: no call fails.
    /// </summary>
    [Fact]
    public void A_signal_storm_causes_no_spurious_failure()
    {
        KernelEnv.RequireVgem();

        using var oracle = new LeakOracle();
        var errors = new ConcurrentQueue<string>();
        var tids = new ConcurrentDictionary<string, int>();
        var ops = new ConcurrentDictionary<string, long>();
        long deliveredBefore = SignalHelper.Delivered;
        Assert.Equal(0, SignalHelper.InstallHandler(SignalHelper.SIGURG));
        try
        {
            using var card = KernelEnv.OpenVgemCard();
            using var render = KernelEnv.OpenVgemRender();
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            using var source = card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite);
            using var blocking = new SocketPair(UnixSocketType.SOCK_SEQPACKET);
            using var polling = new SocketPair(UnixSocketType.SOCK_STREAM);
            polling.B.Blocking = false; // ReceiveWithFds then waits in Socket.Poll, not in recvmsg
            using var stop = new CancellationTokenSource();

            Thread Worker(string name, Action step) => new(() =>
            {
                tids[name] = SignalHelper.GetTid();
                try
                {
                    while (!stop.IsCancellationRequested)
                    {
                        step();
                        ops.AddOrUpdate(name, 1, (_, n) => n + 1);
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue($"{name}: {e.GetType().Name}: {e.Message}");
                }
            }) { Name = name, IsBackground = true };

            void Receive(SocketPair pair)
            {
                using var received = pair.B.ReceiveWithFds(new byte[8]);
                if (received.BytesReceived == 1 && received.Count == 1)
                {
                    return;
                }

                if (!(stop.IsCancellationRequested && received.BytesReceived == 0))
                {
                    throw new InvalidOperationException($"received {received.BytesReceived} bytes and {received.Count} fds");
                }
            }

            void Send(SocketPair pair)
            {
                Thread.Sleep(2); // the receiver spends most of its time blocked
                pair.A.SendWithFds("x"u8, source);
            }

            var threads = new List<Thread>
            {
                Worker("ioctls", () =>
                {
                    using var exported = card.ExportDmaBuf(dumb.Handle);
                    using var imported = render.ImportDmaBuf(exported);
                    using var copy = exported.Duplicate();
                    using var map = source.Map(DmaBufAccess.Read);
                    using (map.BeginAccess(DmaBufAccess.Read))
                    {
                    }
                }),
                Worker("recvmsg-blocked", () => Receive(blocking)),
                Worker("poll-blocked", () => Receive(polling)),
                Worker("sender", () =>
                {
                    Send(blocking);
                    Send(polling);
                }),
            };
            threads.ForEach(t => t.Start());
            while (tids.Count < threads.Count)
            {
                Thread.Sleep(10);
            }

            long sent = 0;
            var storm = System.Diagnostics.Stopwatch.StartNew();
            while (storm.Elapsed < TimeSpan.FromSeconds(3) && errors.IsEmpty)
            {
                foreach (int tid in tids.Values)
                {
                    if (SignalHelper.TgKill(tid, SignalHelper.SIGURG) == 0)
                    {
                        sent++;
                    }
                }
            }

            stop.Cancel();
            Thread sender = threads.Single(t => t.Name == "sender");
            Assert.True(sender.Join(TimeSpan.FromSeconds(30)), "the sender did not stop");
            blocking.A.Shutdown(System.Net.Sockets.SocketShutdown.Send); // wakes the receivers: 0 bytes
            polling.A.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(30)), $"{t.Name} did not stop"));
            long delivered = SignalHelper.Delivered - deliveredBefore;
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{sent} signals sent, {delivered} handled; operations: {string.Join(", ", ops.Select(kv => $"{kv.Key} {kv.Value}"))}");
            Assert.True(errors.IsEmpty, string.Join('\n', errors));
            Assert.True(delivered > 100, $"only {delivered} signals reached the handler");
            foreach (string name in tids.Keys)
            {
                Assert.True(ops.GetValueOrDefault(name) > 0, $"{name} made no progress");
            }
        }
        finally
        {
            Assert.Equal(0, SignalHelper.RestoreDefault(SignalHelper.SIGURG));
        }

        oracle.Verify();
    }

    /// <summary>
    /// DMA_BUF_IOCTL_SYNC sleeps interruptibly while a vgem fence is unsignalled. A raw ioctl there, hit by a signal
    /// whose handler lacks SA_RESTART, fails with EINTR; the library's BeginAccess under the same storm retries and
    /// returns only once the fence is signalled.
    /// </summary>
    [Fact]
    public void The_ioctl_path_retries_EINTR_from_the_kernel()
    {
        KernelEnv.RequireVgem();

        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var source = card.ExportDmaBuf(dumb.Handle))
        using (var map = source.Map(DmaBufAccess.Read))
        {
            ProveRetry(card, dumb, source, map);
        }

        oracle.Verify();
    }

    private static void ProveRetry(DrmDevice card, DumbBuffer dumb, DmaBuf source, DmaBufMapping map)
    {
        int cardFd = (int)card.FileHandle.DangerousGetHandle();
        int dmaBufFd = (int)source.DangerousGetHandle();
        Assert.Equal(0, SignalHelper.InstallHandler(SignalHelper.SIGURG));
        try
        {
            Assert.Equal(0, SignalHelper.VgemFenceAttach(cardFd, dumb.Handle.Value, out uint fence));

            // 1. The kernel really returns EINTR here.
            int rawErrno = -1;
            RunStormed(() => rawErrno = SignalHelper.RawSyncStartRead(dmaBufFd), TimeSpan.FromSeconds(5), out _);
            ErrnoAssert.Equal(Interop.Errno.EINTR, rawErrno);

            // 2. The library retries it: BeginAccess blocks through the storm and returns once the fence signals.
            var signalled = System.Diagnostics.Stopwatch.StartNew();
            long signalledAt = long.MaxValue, returnedAt = 0;
            Exception? failure = null;
            long delivered = SignalHelper.Delivered;
            RunStormed(() =>
            {
                try
                {
                    using (map.BeginAccess(DmaBufAccess.Read))
                    {
                        Interlocked.Exchange(ref returnedAt, signalled.ElapsedTicks);
                    }
                }
                catch (Exception e)
                {
                    failure = e;
                }
            }, TimeSpan.FromSeconds(1), out Thread blocked, after: () =>
            {
                Interlocked.Exchange(ref signalledAt, signalled.ElapsedTicks);
                Assert.Equal(0, SignalHelper.VgemFenceSignal(cardFd, fence));
            });
            delivered = SignalHelper.Delivered - delivered;
            TestContext.Current.TestOutputHelper?.WriteLine($"raw DMA_BUF_IOCTL_SYNC: errno {rawErrno}; BeginAccess: {delivered} signals handled during the blocked call, then returned");
            Assert.Null(failure);
            Assert.True(delivered > 1, $"only {delivered} signals reached the blocked BeginAccess");
            Assert.True(returnedAt >= signalledAt, "BeginAccess returned before the fence was signalled: it did not wait");
            Assert.False(blocked.IsAlive);
        }
        finally
        {
            Assert.Equal(0, SignalHelper.RestoreDefault(SignalHelper.SIGURG));
        }
    }

    /// <summary>
    /// Starts <paramref name="call"/> on its own thread and sends it SIGURG every millisecond until it returns, or,
    /// with <paramref name="after"/>, for <paramref name="storm"/> and then calls <paramref name="after"/> and waits.
    /// </summary>
    private static void RunStormed(Action call, TimeSpan storm, out Thread thread, Action? after = null)
    {
        int tid = 0;
        thread = new Thread(() =>
        {
            Volatile.Write(ref tid, SignalHelper.GetTid());
            call();
        }) { IsBackground = true };
        thread.Start();
        while (Volatile.Read(ref tid) == 0)
        {
            Thread.Sleep(1);
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (thread.IsAlive && clock.Elapsed < storm)
        {
            SignalHelper.TgKill(tid, SignalHelper.SIGURG);
            Thread.Sleep(1);
        }

        after?.Invoke();
        Assert.True(thread.Join(TimeSpan.FromSeconds(20)), "the call did not return");
    }
}
