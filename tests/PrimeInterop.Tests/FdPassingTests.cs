using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// SCM_RIGHTS fd passing, checked against an independent peer (Mono.Posix's sendmsg/recvmsg). Uses pipes, so it
/// runs on any Linux host; dma-bufs over sockets are in <see cref="DmaBufSharingTests"/>.
/// </summary>
public sealed class FdPassingTests
{
    private static (SafeFileHandle Read, SafeFileHandle Write) Pipe() => TestPipe.Create();

    private static ulong Inode(int fd)
    {
        Assert.Equal(0, Interop.Libc.Stat(fd, out _, out ulong ino, out _, out _));
        return ino;
    }

    /// <summary>Mono.Posix's recvmsg: returns the payload and every fd the kernel delivered.</summary>
    private static (byte[] Payload, List<int> Fds) MonoReceive(Socket socket, int maxFds)
    {
        byte[] data = new byte[256];
        byte[] control = new byte[Syscall.CMSG_SPACE((ulong)(maxFds * sizeof(int)))];
        var handle = GCHandle.Alloc(data, GCHandleType.Pinned);
        try
        {
            var msg = new Msghdr
            {
                msg_iov = [new Iovec { iov_base = handle.AddrOfPinnedObject(), iov_len = (ulong)data.Length }],
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = control.Length,
            };
            long n = Syscall.recvmsg((int)socket.Handle, msg, MessageFlags.MSG_CMSG_CLOEXEC);
            Assert.True(n >= 0, $"recvmsg: {Stdlib.GetLastError()}");
            var fds = new List<int>();
            for (long c = Syscall.CMSG_FIRSTHDR(msg); c != -1; c = Syscall.CMSG_NXTHDR(msg, c))
            {
                var header = Cmsghdr.ReadFromBuffer(msg, c);
                long dataOffset = Syscall.CMSG_DATA(msg, c);
                int count = (int)((header.cmsg_len - (dataOffset - c)) / sizeof(int));
                for (int i = 0; i < count; i++)
                {
                    fds.Add(BitConverter.ToInt32(control, (int)dataOffset + (i * sizeof(int))));
                }
            }

            return (data[..(int)n], fds);
        }
        finally
        {
            handle.Free();
        }
    }

    /// <summary>Mono.Posix's sendmsg with glibc's CMSG_LEN.</summary>
    private static void MonoSend(Socket socket, byte[] payload, params int[] fds)
    {
        byte[] control = new byte[Syscall.CMSG_SPACE((ulong)(fds.Length * sizeof(int)))];
        var handle = GCHandle.Alloc(payload, GCHandleType.Pinned);
        try
        {
            var msg = new Msghdr
            {
                msg_iov = [new Iovec { iov_base = handle.AddrOfPinnedObject(), iov_len = (ulong)payload.Length }],
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = control.Length,
            };
            long c = Syscall.CMSG_FIRSTHDR(msg);
            new Cmsghdr { cmsg_len = (long)Syscall.CMSG_LEN((ulong)(fds.Length * sizeof(int))), cmsg_level = UnixSocketProtocol.SOL_SOCKET, cmsg_type = UnixSocketControlMessage.SCM_RIGHTS }
                .WriteToBuffer(msg, c);
            long data = Syscall.CMSG_DATA(msg, c);
            for (int i = 0; i < fds.Length; i++)
            {
                BitConverter.TryWriteBytes(control.AsSpan((int)data + (i * sizeof(int))), fds[i]);
            }

            Assert.Equal(payload.Length, Syscall.sendmsg((int)socket.Handle, msg, 0));
        }
        finally
        {
            handle.Free();
        }
    }

    [Fact]
    public void One_fd_sent_arrives_as_exactly_one_fd_at_an_independent_receiver()
    {
        // With Tmds.LibC 0.5.0's CMSG_LEN the kernel would read 8 bytes of fds and deliver fd 0 as well.
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair())
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                Assert.Equal(3, pair.A.SendWithFds("abc"u8, r));
                Assert.False(r.IsClosed); // the sender keeps its fd

                var (payload, fds) = MonoReceive(pair.B, 4);
                Assert.Equal("abc"u8.ToArray(), payload);
                Assert.Single(fds);
                Assert.Equal(Inode((int)r.DangerousGetHandle()), Inode(fds[0]));
                Assert.Equal(0, Syscall.close(fds[0]));
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void Fds_from_an_independent_sender_arrive_close_on_exec()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                MonoSend(pair.A, "hello"u8.ToArray(), (int)r.DangerousGetHandle(), (int)w.DangerousGetHandle());
                byte[] buffer = new byte[16];
                using var received = pair.B.ReceiveWithFds(buffer);
                Assert.Equal(5, received.BytesReceived);
                Assert.Equal("hello"u8.ToArray(), buffer[..5]);
                Assert.Equal(2, received.Count);
                using var fr = received.TakeFile(0);
                using var fw = received.TakeFile(1);
                Assert.Equal(Inode((int)r.DangerousGetHandle()), Inode((int)fr.DangerousGetHandle()));
                Assert.Equal(0, TestLibc.IsCloseOnExec((int)fw.DangerousGetHandle(), out bool cloexec));
                Assert.True(cloexec);
                Assert.Throws<InvalidOperationException>(() => received.TakeFile(0));
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void Truncated_control_data_closes_every_fd_that_arrived_and_fails_clearly()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                pair.A.SendWithFds("x"u8, r, w, r);
                var e = Assert.Throws<InvalidDataException>(() => pair.B.ReceiveWithFds(new byte[8], maxFds: 1));
                Assert.Contains("more fds than the 1 allowed", e.Message, StringComparison.Ordinal);
            }
        }

        oracle.Verify(); // the one fd that did arrive was closed
    }

    [Fact]
    public void Up_to_253_fds_travel_in_one_message_and_more_are_refused()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                SafeHandle[] many = Enumerable.Repeat<SafeHandle>(r, UnixFdPassing.MaxFdsPerMessage).ToArray();
                pair.A.SendWithFds("m"u8, many);
                using (var received = pair.B.ReceiveWithFds(new byte[4]))
                {
                    Assert.Equal(253, received.Count);
                }

                SafeHandle[] tooMany = Enumerable.Repeat<SafeHandle>(r, UnixFdPassing.MaxFdsPerMessage + 1).ToArray();
                Assert.Throws<ArgumentOutOfRangeException>(() => pair.A.SendWithFds("m"u8, tooMany));
            }
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Async_receive_can_be_cancelled_and_then_receives_normally()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
                await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
                    await pair.B.ReceiveWithFdsAsync(new byte[8], 4, cts.Token));

                var receiving = pair.B.ReceiveWithFdsAsync(new byte[8], 4, TestContext.Current.CancellationToken);
                await pair.A.SendWithFdsAsync("z"u8.ToArray(), [w], TestContext.Current.CancellationToken);
                using var received = await receiving;
                Assert.Equal(1, received.Count);
                using var file = received.TakeFile(0);
                Assert.Equal(Inode((int)w.DangerousGetHandle()), Inode((int)file.DangerousGetHandle()));
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void A_received_fd_that_is_not_a_dmabuf_is_refused_and_still_closed()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = Pipe();
            using (r)
            using (w)
            {
                pair.A.SendWithFds("p"u8, r);
                using var received = pair.B.ReceiveWithFds(new byte[4]);
                var e = Assert.Throws<InvalidDataException>(() => received.TakeDmaBuf(0));
                Assert.Contains("not a dma-buf", e.Message, StringComparison.Ordinal);
                Assert.Throws<InvalidDataException>(() => received.TakeSyncFile(0));
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void A_disposed_socket_is_refused_before_any_syscall()
    {
        using var oracle = new LeakOracle();
        var pair = new SocketPair();
        var (r, w) = Pipe();
        using (r)
        using (w)
        {
            pair.Dispose();
            Assert.Throws<ObjectDisposedException>(() => pair.A.SendWithFds("x"u8, r));
            Assert.Throws<ObjectDisposedException>(() => pair.B.ReceiveWithFds(new byte[4]));
            Assert.False(r.IsClosed);
        }

        oracle.Verify();
    }

    [Fact]
    public void Only_unix_sockets_carry_fds()
    {
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var (r, w) = Pipe();
        using (r)
        using (w)
        {
            var e = Assert.Throws<ArgumentException>(() => tcp.SendWithFds("x"u8, r));
            Assert.Contains("AF_UNIX", e.Message, StringComparison.Ordinal);
        }
    }
}
