using System.Net.Sockets;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Issue 7's holes that need no DRM device: fd types, argument checks, abandoned results, exception categories,
/// SO_PASSCRED, waiting for writability, the dma-buf/sync_file checks against fakes, opening without probing.
/// Each test names the hole it closes; the kernel side is in <see cref="SafetyContractTests"/>.
/// </summary>
public sealed class SafetyContractHostTests
{
    private static (SafeFileHandle Read, SafeFileHandle Write) Pipe() => TestPipe.Create();

    // Hole 2: a GEM handle is not an fd, so no API that takes an fd can be handed one.
    [Fact]
    public void A_GemHandle_is_not_a_SafeHandle_so_no_fd_taking_API_accepts_one()
    {
        Assert.False(typeof(SafeHandle).IsAssignableFrom(typeof(GemHandle)));
        var fdTaking = typeof(DrmDevice).Assembly.GetExportedTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .SelectMany(m => m.GetParameters().Select(p => (Method: m, p.ParameterType)))
            .Where(x => typeof(SafeHandle).IsAssignableFrom(x.ParameterType.IsArray ? x.ParameterType.GetElementType()! : x.ParameterType)
                || x.ParameterType.IsGenericType && x.ParameterType.GetGenericArguments().Any(a => typeof(SafeHandle).IsAssignableFrom(a)))
            .Select(x => $"{x.Method.DeclaringType!.Name}.{x.Method.Name}")
            .ToList();
        Assert.Contains("UnixFdPassing.SendWithFds", fdTaking);
        Assert.Contains("DrmDevice.ImportDmaBuf", fdTaking);
    }

    // Hole 6: a negative fd count overflowed the stack (uncatchable) or gave a bogus MSG_CTRUNC error.
    [Theory]
    [InlineData(-10)]
    [InlineData(-1)]
    [InlineData(254)]
    public async Task A_bad_maxFds_is_an_argument_error_before_any_syscall(int maxFds)
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            pair.A.Send("x"u8);
            Assert.Throws<ArgumentOutOfRangeException>(() => pair.B.ReceiveWithFds(new byte[4], maxFds));
            await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await pair.B.ReceiveWithFdsAsync(new byte[4], maxFds, TestContext.Current.CancellationToken));
            using var received = pair.B.ReceiveWithFds(new byte[4], 0); // nothing was consumed by the refused calls
            Assert.Equal(1, received.BytesReceived);
        }

        oracle.Verify();
    }

    // Hole 7: a result nobody disposes (dropped by a timeout or WaitAsync) must not leak its fds.
    [Fact]
    public void An_abandoned_ReceivedFds_closes_its_fds_when_collected()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                pair.A.SendWithFds("a"u8, r, w, r);
                // No GC between the receive and the count: a collection there would run the very finalizer under
                // test early, and the count would say "closed" before the drop could be seen.
                Assert.True(GC.TryStartNoGCRegion(16 << 20), "could not enter a no-GC region");
                int before = LeakOracle.FdCount();
                ReceiveAndDrop(pair.B);
                int dropped = LeakOracle.FdCount();
                GC.EndNoGCRegion();
                Assert.Equal(before + 3, dropped); // dropped, not closed: only the finalizers can
            }
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        oracle.Verify();
    }

    // Issue 8 (a receive allocates no SafeHandle per fd; ReceivedFds owns the fds itself): a take that fails its
    // kernel check leaves the fd in place, and a Dispose racing with takes and failed checks closes every fd that was
    // not taken, once, whichever side wins (the leak oracle counts this process's fds).
    [Fact]
    public async Task ReceivedFds_takes_failed_checks_and_a_racing_Dispose_close_every_fd_once()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                for (int round = 0; round < 200; round++)
                {
                    pair.A.SendWithFds("a"u8, r, w, r, w);
                    var received = pair.B.ReceiveWithFds(new byte[4]);
                    Assert.Equal(4, received.Count);
                    Assert.Throws<InvalidDataException>(() => received.TakeSyncFile(0)); // a pipe: it stays here
                    Assert.Throws<InvalidDataException>(() => received.TakeDmaBuf(0));
                    SafeFileHandle? taken = null;
                    using (var barrier = new Barrier(2))
                    {
                        var taker = Task.Run(() =>
                        {
                            barrier.SignalAndWait(TestContext.Current.CancellationToken);
                            try
                            {
                                taken = received.TakeFile(1);
                            }
                            catch (InvalidOperationException)
                            {
                                // Dispose came first
                            }

                            try
                            {
                                received.TakeSyncFile(2); // fails its check and puts the fd back, maybe after Dispose
                            }
                            catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
                            {
                            }
                        }, TestContext.Current.CancellationToken);
                        barrier.SignalAndWait(TestContext.Current.CancellationToken);
                        received.Dispose();
                        await taker;
                    }

                    taken?.Dispose();
                    for (int i = 0; i < 4; i++)
                    {
                        Assert.Throws<InvalidOperationException>(() => received.TakeFile(i)); // disposed: every slot empty
                    }
                }
            }
        }

        oracle.Verify();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    // Issue 8: a disposed ReceivedFds hands its fd holder back to the thread for the next receive (no finalizer
    // registration per message). A disposed result stays disposed: it can reach none of the next message's fds.
    [Fact]
    public void A_disposed_ReceivedFds_cannot_reach_the_fds_of_the_message_that_reuses_its_holder()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                pair.A.SendWithFds("a"u8, r);
                pair.A.SendWithFds("b"u8, w, r);
                var first = pair.B.ReceiveWithFds(new byte[4]);
                first.Dispose();
                var second = pair.B.ReceiveWithFds(new byte[4]); // same thread: the first one's holder
                Assert.Equal(1, first.Count);
                Assert.Equal(2, second.Count);
                Assert.Equal(4, LeakOracle.FdsOnSameFile(r)); // "pipe:[n]" names both ends: r, w and the second message's two

                Assert.Contains("already taken", Assert.Throws<InvalidOperationException>(() => first.TakeFile(0)).Message);
                first.Dispose(); // a second Dispose closes nothing of the second message
                Assert.Equal(4, LeakOracle.FdsOnSameFile(r));

                using (SafeFileHandle taken = second.TakeFile(0))
                {
                    second.Dispose();
                    Assert.Equal(3, LeakOracle.FdsOnSameFile(r)); // r, w and the taken one
                    Assert.Contains("already taken", Assert.Throws<InvalidOperationException>(() => second.TakeFile(1)).Message);
                }

                Assert.Equal(2, LeakOracle.FdsOnSameFile(r));
            }
        }

        oracle.Verify();
    }

    private static void ReceiveAndDrop(Socket socket) => Assert.Equal(3, socket.ReceiveWithFds(new byte[4]).Count);

    // Hole 7: SyncFile.FromFileDescriptor asks the kernel, and takes an ownership flag like DmaBuf's.
    [Fact]
    public void SyncFile_FromFileDescriptor_refuses_what_is_not_a_sync_file_and_honours_ownership()
    {
        using var oracle = new LeakOracle();
        var (r, w) = Pipe();
        using (r)
        using (w)
        {
            int fd = (int)r.DangerousGetHandle();
            var e = Assert.Throws<ArgumentException>(() => SyncFile.FromFileDescriptor(fd, ownsHandle: false));
            Assert.Contains("not a sync_file", e.Message, StringComparison.Ordinal);
            Assert.Equal(0, TestLibc.IsCloseOnExec(fd, out _)); // still open: not ours to close

            // An eventfd lives on the same anonymous-inode filesystem as a sync_file: only the kernel's ioctl answer tells.
            Assert.Equal(0, TestLibc.EventFd(out int eventFd));
            Assert.Throws<ArgumentException>(() => SyncFile.FromFileDescriptor(eventFd, ownsHandle: true));
            ErrnoAssert.Equal(Interop.Errno.EBADF, TestLibc.IsCloseOnExec(eventFd, out _)); // closed: it was ours
            Assert.Throws<ArgumentException>(() => DmaBuf.FromFileDescriptor(fd, ownsHandle: false));
        }

        oracle.Verify();
    }

    // Hole 4: the dma-buf check is the kernel's (fstatfs), not a /proc link text a peer can imitate.
    [Fact]
    public async Task A_fifo_named_like_a_dmabuf_is_refused_and_every_fd_of_its_message_is_closed()
    {
        string fake = $"/dmabuf:primeinterop-test-{Environment.ProcessId}";
        if (Syscall.mkfifo(fake, FilePermissions.S_IRUSR | FilePermissions.S_IWUSR) != 0)
        {
            // errno read directly: Mono.Posix's Stdlib.GetLastError() threw on the value it found as an unprivileged user.
            int errno = System.Runtime.InteropServices.Marshal.GetLastSystemError();
            Assert.SkipWhen(!KernelEnv.InRig, $"cannot create {fake} here (errno {errno}); needs a writable / (root)");
            Assert.Fail($"cannot create {fake}: errno {errno}");
        }

        try
        {
            using var oracle = new LeakOracle();
            using (var fifo = new SafeFileHandle(Syscall.open(fake, OpenFlags.O_RDWR | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC), ownsHandle: true))
            using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
            {
                Assert.False(fifo.IsInvalid);
                Assert.StartsWith("/dmabuf:", Interop.Libc.ReadLink($"/proc/self/fd/{fifo.DangerousGetHandle()}"), StringComparison.Ordinal);
                byte[] wire = Description(planes: 1, stride: 256);
                pair.A.SendWithFds(wire, fifo);
                var e = await Assert.ThrowsAsync<InvalidDataException>(async () => await pair.B.ReceiveDmaBufAsync(TestContext.Current.CancellationToken));
                Assert.Contains("not a dma-buf", e.Message, StringComparison.Ordinal);

                pair.A.SendWithFds("f"u8, fifo);
                using var received = pair.B.ReceiveWithFds(new byte[4]);
                Assert.Throws<InvalidDataException>(() => received.TakeDmaBuf(0));
                Assert.Throws<ArgumentException>(() => DmaBuf.FromFileDescriptor((int)fifo.DangerousGetHandle(), ownsHandle: false));
            }

            oracle.Verify();
        }
        finally
        {
            File.Delete(fake);
        }
    }

    /// <summary>A well-formed 64x64 XRGB8888 description's wire form (fds apart).</summary>
    internal static byte[] Description(int planes, uint stride)
    {
        byte[] wire = new byte[DmaBufDescription.WireSize];
        BitConverter.TryWriteBytes(wire.AsSpan(0), 0x42444950u);
        BitConverter.TryWriteBytes(wire.AsSpan(4), (ushort)1);
        BitConverter.TryWriteBytes(wire.AsSpan(6), (ushort)planes);
        BitConverter.TryWriteBytes(wire.AsSpan(8), 64u);
        BitConverter.TryWriteBytes(wire.AsSpan(12), 64u);
        BitConverter.TryWriteBytes(wire.AsSpan(16), DrmFourcc.Xrgb8888.Value);
        BitConverter.TryWriteBytes(wire.AsSpan(36), stride);
        return wire;
    }

    // Hole 8: a socket with SO_PASSCRED gets SCM_CREDENTIALS with every message; that is not the peer's fault.
    [Fact]
    public void A_socket_with_SO_PASSCRED_receives_every_fd_and_ignores_the_credentials()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            Assert.Equal(0, Syscall.setsockopt((int)pair.B.Handle, UnixSocketProtocol.SOL_SOCKET, UnixSocketOptionName.SO_PASSCRED, 1)); // .NET's SocketOptionName has no SO_PASSCRED
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                pair.A.SendWithFds("1"u8, r);
                using (var one = pair.B.ReceiveWithFds(new byte[4], maxFds: 1))
                {
                    Assert.Equal(1, one.Count);
                }

                pair.A.SendWithFds("m"u8, Enumerable.Repeat<SafeHandle>(w, UnixFdPassing.MaxFdsPerMessage).ToArray());
                using var many = pair.B.ReceiveWithFds(new byte[4]);
                Assert.Equal(UnixFdPassing.MaxFdsPerMessage, many.Count);
            }
        }

        oracle.Verify();
    }

    // Hole 8: a transport error is one type, in the call and in the wait before it (it was SocketException there).
    [Fact]
    public async Task A_connection_reset_is_a_DrmException_whether_it_happens_in_the_wait_or_in_recvmsg()
    {
        using var oracle = new LeakOracle();
        var pair = new SocketPair();
        using (pair.A)
        {
            var waiting = pair.A.ReceiveWithFdsAsync(new byte[4], 4, TestContext.Current.CancellationToken).AsTask();
            await Task.Delay(100, TestContext.Current.CancellationToken);
            Assert.False(waiting.IsCompleted);
            pair.A.Send("unread"u8);
            pair.B.Dispose(); // closing with unread data resets the connection (ECONNRESET for the other end)
            var e = await Assert.ThrowsAsync<DrmException>(() => waiting);
            ErrnoAssert.Equal(Interop.Errno.ECONNRESET, e); // in the wait or in recvmsg: the same error
        }

        var again = new SocketPair();
        using (again.A)
        {
            again.A.Send("unread"u8);
            again.B.Dispose();
            var e = Assert.Throws<DrmException>(() => again.A.ReceiveWithFds(new byte[4]));
            Assert.Equal(Interop.ScmRights.ReceiveOperation, e.Operation);
        }

        oracle.Verify();
    }

    // Hole 8: while the send buffer is full, SendWithFdsAsync waits for writability; it used to spin on Task.Delay(1).
    [Fact]
    public async Task SendWithFdsAsync_waits_for_writability_without_polling_and_can_be_cancelled()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                pair.A.Blocking = false;
                byte[] record = new byte[4096];
                int queued = 0;
                while (pair.A.Send(record, SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
                {
                    queued++;
                }

                var ct = TestContext.Current.CancellationToken;
                long workBefore = ThreadPool.CompletedWorkItemCount;
                var sending = pair.A.SendWithFdsAsync("x"u8.ToArray(), [r], ct).AsTask();
                await Task.Delay(500, ct);
                long work = ThreadPool.CompletedWorkItemCount - workBefore;
                Assert.False(sending.IsCompleted);
                // Polling with Task.Delay(1) runs hundreds of items in 500 ms; the runner and the runtime run a few of their own.
                Assert.True(work < 100, $"{work} thread-pool work items ran while the send waited 500 ms: it polls");

                for (int i = 0; i < queued; i++)
                {
                    Assert.Equal(4096, pair.B.Receive(new byte[4096]));
                }

                Assert.Equal(1, await sending.WaitAsync(TimeSpan.FromSeconds(10), ct));
                using (var received = pair.B.ReceiveWithFds(new byte[4]))
                {
                    Assert.Equal(1, received.Count);
                }

                while (pair.A.Send(record, SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
                {
                }

                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pair.A.SendWithFdsAsync("y"u8.ToArray(), [r], cts.Token));
                Assert.False(r.IsClosed);
            }
        }

        oracle.Verify();
    }

    // A compositor whose clients stop reading must not pay a thread per stalled client: every pending send waits on
    // the library's one readiness thread, and a peer that goes away ends the wait with the send's own error.
    [Fact]
    public async Task Sends_waiting_for_room_share_the_readiness_thread_and_a_closed_peer_is_EPIPE()
    {
        const int Stalled = 16;
        using var oracle = new LeakOracle();
        var pairs = Enumerable.Range(0, Stalled).Select(_ => new SocketPair(UnixSocketType.SOCK_SEQPACKET)).ToList();
        var (r, w) = Pipe();
        try
        {
            foreach (var pair in pairs)
            {
                pair.A.Blocking = false;
                while (pair.A.Send(new byte[4096], SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
                {
                }
            }

            var ct = TestContext.Current.CancellationToken;
            int threadsBefore = ProcessThreads.CountOutsideRuntimePools();
            var sends = pairs.Select(p => p.A.SendWithFdsAsync("x"u8.ToArray(), [r], ct).AsTask()).ToList();
            await Task.Delay(300, ct);
            int threadsWaiting = ProcessThreads.CountOutsideRuntimePools();
            Assert.All(sends, t => Assert.False(t.IsCompleted));
            Assert.True(threadsWaiting - threadsBefore <= 1, $"{Stalled} pending sends added threads: {threadsBefore} -> {threadsWaiting}");
            Assert.Equal(Stalled, PollerState.Armed);

            pairs.ForEach(p => p.B.Dispose()); // the peers go away without reading
            foreach (var send in sends)
            {
                var e = await Assert.ThrowsAsync<DrmException>(() => send.WaitAsync(TimeSpan.FromSeconds(10), ct));
                Assert.Equal(Interop.ScmRights.SendOperation, e.Operation);
                Assert.True(e.Errno is Interop.Errno.EPIPE or Interop.Errno.ECONNRESET, e.Message);
            }

            Assert.Equal(0, PollerState.Armed);
            Assert.False(r.IsClosed);
        }
        finally
        {
            pairs.ForEach(p => p.Dispose());
            r.Dispose();
            w.Dispose();
        }

        oracle.Verify();
    }

    // Hole 9: DrmDevice.Open looks (stat) before it opens: a FIFO or another device is refused without being opened.
    [Fact]
    public void Open_refuses_a_fifo_and_a_non_drm_device_without_opening_them()
    {
        using (var watch = new OpenWatch("/dev/null"))
        {
            Assert.Throws<ArgumentException>(() => DrmDevice.Open("/dev/null"));
            Assert.Empty(watch.Opened());
        }

        string dir = Directory.CreateTempSubdirectory("primeinterop-open-").FullName;
        try
        {
            string fifo = Path.Combine(dir, "renderD128");
            Assert.Equal(0, Syscall.mkfifo(fifo, FilePermissions.S_IRUSR | FilePermissions.S_IWUSR));
            using var watch = new OpenWatch(dir);
            var e = Assert.Throws<ArgumentException>(() => DrmDevice.Open(fifo));
            Assert.Contains("not a DRM device node", e.Message, StringComparison.Ordinal);
            Assert.Empty(watch.Opened());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // Hole 9: nodes come from sysfs, libdrm's way: driver from the device's driver link, else the device's name.
    [Fact]
    public void Enumerate_reads_sysfs_and_opens_no_node()
    {
        string root = Directory.CreateTempSubdirectory("primeinterop-sysfs-").FullName;
        try
        {
            string cls = Path.Combine(root, "class", "drm"), dev = Path.Combine(root, "dev");
            string pci = Path.Combine(root, "devices", "pci0000:00", "0000:00:02.0"), vkms = Path.Combine(root, "devices", "platform", "vkms");
            string faux = Path.Combine(root, "devices", "faux", "vgem");
            foreach (string d in new[] { cls, dev, pci, vkms, faux, Path.Combine(root, "drivers", "i915"), Path.Combine(root, "drivers", "faux_driver") })
            {
                Directory.CreateDirectory(d);
            }

            File.CreateSymbolicLink(Path.Combine(pci, "driver"), Path.Combine(root, "drivers", "i915"));
            File.CreateSymbolicLink(Path.Combine(faux, "driver"), Path.Combine(root, "drivers", "faux_driver"));
            foreach (var (node, device) in new[] { ("card0", pci), ("renderD128", pci), ("card1", vkms), ("card2", faux), ("renderD129", faux) })
            {
                Directory.CreateDirectory(Path.Combine(cls, node));
                File.CreateSymbolicLink(Path.Combine(cls, node, "device"), device);
                Assert.Equal(0, Syscall.mkfifo(Path.Combine(dev, node), FilePermissions.S_IRUSR | FilePermissions.S_IWUSR));
            }

            Directory.CreateDirectory(Path.Combine(cls, "card0-Virtual-1")); // connectors are not nodes

            using var watch = new OpenWatch(dev);
            var nodes = DrmNode.Enumerate(cls, dev);
            Assert.Empty(watch.Opened());
            Assert.Equal(["card0", "card1", "card2", "renderD128", "renderD129"], nodes.Select(n => Path.GetFileName(n.Path)));
            Assert.Equal(["i915", "vkms", "vgem", "i915", "vgem"], nodes.Select(n => n.DriverName));
            Assert.Equal(nodes[0].DeviceKey, nodes[3].DeviceKey);
            Assert.Equal(pci, nodes[0].DeviceKey); // the device's real sysfs path
            Assert.NotEqual(nodes[0].DeviceKey, nodes[1].DeviceKey);
            Assert.All(nodes, n => Assert.Null(n.Version));
            Assert.All(nodes, n => Assert.Null(n.ProbeError));

            DrmNode probed = nodes[1].Probe(); // probing is explicit, and a FIFO is refused without blocking
            Assert.Contains("not a DRM device node", probed.ProbeError, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // All unsafe code lives in Interop/ (the bindings), and SafeHandle references are counted by hand in one file only:
    // the library's one implementation of leases and holds.
    [Fact]
    public void Unsafe_code_lives_only_in_Interop_and_manual_reference_counting_only_in_the_lease_and_hold_file()
    {
        string src = Path.Combine(Repo.Root(), "src");
        Assert.SkipUnless(Directory.Exists(src), "the sources are not here");
        var offenders = new List<string>();
        string lifetime = Path.Combine("PrimeInterop", "Lifetime", "LeaseAndHold.cs");
        foreach (string file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}Interop{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                || file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }

            string text = File.ReadAllText(file);
            string[] words = Path.GetRelativePath(src, file) == lifetime ? ["unsafe", "fixed (", "stackalloc byte"]
                : ["unsafe", "fixed (", "stackalloc byte", "DangerousAddRef", "DangerousRelease"];
            foreach (string word in words)
            {
                if (System.Text.RegularExpressions.Regex.IsMatch(text, $@"(?<![\w<""]){System.Text.RegularExpressions.Regex.Escape(word)}"))
                {
                    offenders.Add($"{Path.GetRelativePath(src, file)}: {word}");
                }
            }
        }

        Assert.True(offenders.Count == 0, string.Join('\n', offenders));
    }
}
