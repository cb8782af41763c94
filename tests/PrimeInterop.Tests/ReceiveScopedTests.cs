using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// The receive lane (UnixFdPassing.ReceiveScoped): the fds of one message are lent to the body and every one it did
/// not take is closed when the body returns or throws, once; a refused message never reaches the body and costs its
/// fds only. Host tests (pipes need no kernel driver); the dma-buf case is in <see cref="ReceiveScopedKernelTests"/>.
/// </summary>
public sealed class ReceiveScopedTests
{
    [Fact]
    public void The_fds_not_taken_are_closed_when_the_body_returns_and_a_taken_one_belongs_to_the_caller()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = TestPipe.Create();
            using (r)
            using (w)
            {
                int before = LeakOracle.FdsOnSameFile(r); // both ends: one pipe, one /proc link target
                pair.A.SendWithFds("hi"u8, r, w, r);
                var seen = new Seen();
                int bytes = pair.B.ReceiveScoped(new byte[8], 4, ref seen, static (scoped BorrowedReceivedFds fds, ref Seen s) =>
                {
                    s.Count = fds.Count;
                    s.Bytes = fds.BytesReceived;
                    s.Taken = fds.TakeFile(1);
                    try
                    {
                        fds.TakeFile(1);
                    }
                    catch (InvalidOperationException e)
                    {
                        s.Refused = e.Message;
                    }
                });

                Assert.Equal(2, bytes);
                Assert.Equal(2, seen.Bytes);
                Assert.Equal(3, seen.Count);
                Assert.Contains("already taken", seen.Refused);
                using (SafeFileHandle taken = seen.Taken!)
                {
                    Assert.Equal(before + 1, LeakOracle.FdsOnSameFile(r)); // the two untaken fds closed, the taken one is the caller's
                    Assert.Equal(0, TestLibc.IsCloseOnExec((int)taken.DangerousGetHandle(), out bool cloexec));
                    Assert.True(cloexec);
                }

                Assert.Equal(before, LeakOracle.FdsOnSameFile(r));
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void An_exception_in_the_body_closes_every_fd_once_and_propagates_unchanged()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair())
        {
            var (r, w) = TestPipe.Create();
            using (r)
            using (w)
            {
                int before = LeakOracle.FdsOnSameFile(r); // both ends: one pipe, one /proc link target
                pair.A.SendWithFds("x"u8, r, w, r, w);
                var seen = new Seen { R = r };
                var thrown = Assert.Throws<TimeZoneNotFoundException>(() => pair.B.ReceiveScoped(new byte[1], 4, ref seen,
                    static (scoped BorrowedReceivedFds fds, ref Seen s) =>
                    {
                        s.Count = fds.Count;
                        s.InsideR = LeakOracle.FdsOnSameFile(s.R!);
                        throw new TimeZoneNotFoundException("from the body");
                    }));
                Assert.Equal("from the body", thrown.Message);
                Assert.Equal(4, seen.Count);
                Assert.Equal(before + 4, seen.InsideR); // lent: open during the body
                Assert.Equal(before, LeakOracle.FdsOnSameFile(r)); // every lent fd closed at the scope's end
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void A_fd_that_is_not_a_dmabuf_is_refused_by_the_kernels_answer_and_still_closed()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair())
        {
            var (r, w) = TestPipe.Create();
            using (r)
            using (w)
            {
                int before = LeakOracle.FdsOnSameFile(r);
                pair.A.SendWithFds("x"u8, r);
                var seen = new Seen();
                pair.B.ReceiveScoped(new byte[1], 1, ref seen, static (scoped BorrowedReceivedFds fds, ref Seen s) =>
                {
                    s.Count++;
                    try
                    {
                        fds.BorrowDmaBuf(0);
                    }
                    catch (InvalidDataException e)
                    {
                        s.Refused = e.Message;
                    }

                    try
                    {
                        fds.TakeDmaBuf(0);
                    }
                    catch (InvalidDataException)
                    {
                        s.Bytes++;
                    }

                    try
                    {
                        fds.TakeSyncFile(0);
                    }
                    catch (InvalidDataException)
                    {
                        s.Bytes++;
                    }

                    try
                    {
                        fds.TakeFile(1);
                    }
                    catch (ArgumentOutOfRangeException)
                    {
                        s.Bytes++;
                    }
                });
                Assert.Equal(1, seen.Count);
                Assert.Contains("is not a dma-buf but pipe:", seen.Refused);
                Assert.Equal(3, seen.Bytes); // the two other checks and the index out of range refused too
                Assert.Equal(before, LeakOracle.FdsOnSameFile(r)); // the refused fd stayed lent and was closed
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void A_message_with_too_many_fds_never_reaches_the_body_and_the_next_one_does()
    {
        using var oracle = new LeakOracle();
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var (r, w) = TestPipe.Create();
            using (r)
            using (w)
            {
                pair.A.SendWithFds("1"u8, r, w, r);
                pair.A.SendWithFds("2"u8, w);
                int calls = 0;
                var refused = Assert.Throws<InvalidDataException>(() =>
                    pair.B.ReceiveScoped(new byte[1], 2, ref calls, static (scoped BorrowedReceivedFds fds, ref int c) => c++));
                Assert.Contains("more fds than the 2 allowed", refused.Message);
                Assert.Equal(0, calls);
                Assert.Equal(1, pair.B.ReceiveScoped(new byte[1], 2, ref calls, static (scoped BorrowedReceivedFds fds, ref int c) =>
                {
                    Assert.Equal(1, fds.Count);
                    c++;
                }));
                Assert.Equal(1, calls);
            }
        }

        oracle.Verify();
    }

    [Fact]
    public void A_closed_peer_is_a_zero_byte_message_with_no_fds()
    {
        using var pair = new SocketPair();
        pair.A.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        int count = -1;
        Assert.Equal(0, pair.B.ReceiveScoped(new byte[4], 4, ref count, static (scoped BorrowedReceivedFds fds, ref int c) => c = fds.Count));
        Assert.Equal(0, count);
    }

    private struct Seen
    {
        public int Count;
        public int Bytes;
        public int InsideR;
        public SafeFileHandle? R;
        public string? Refused;
        public SafeFileHandle? Taken;
    }
}

/// <summary>The receive lane with dma-bufs: a lent dma-buf imports through the import lane like a DmaBuf would.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class ReceiveScopedKernelTests
{
    [Fact]
    public void A_received_dmabuf_borrowed_in_the_lane_imports_as_the_same_object_and_is_closed_at_the_end()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var pair = new SocketPair())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            using var sent = card.ExportDmaBuf(dumb.Handle);
            using GemHandle held = render.ImportDmaBuf(sent);
            int before = LeakOracle.FdsOnSameFile(sent);
            pair.A.SendWithFds("f"u8, sent, sent);
            var seen = new KernelSeen { Render = render };
            pair.B.ReceiveScoped(new byte[1], 2, ref seen, static (scoped BorrowedReceivedFds fds, ref KernelSeen s) =>
            {
                s.Render!.ImportScoped(fds.BorrowDmaBuf(0), ref s, static (scoped BorrowedGemHandle h, ref KernelSeen s) => s.Handle = h.Value);
                try
                {
                    fds.TakeDmaBuf(0); // lent: taking it would let the caller close it under the BorrowedDmaBuf
                }
                catch (InvalidOperationException e)
                {
                    s.Refused = e.Message;
                }

                s.Taken = fds.TakeDmaBuf(1);
            });

            Assert.Equal(held.Value, seen.Handle); // one handle per object per file
            Assert.Contains("is lent as a BorrowedDmaBuf", seen.Refused);
            Assert.Equal(1, held.ReferenceCount);   // the scope's reference is gone, the held one is not
            using (DmaBuf taken = seen.Taken!)
            {
                Assert.Equal(sent.Identity, taken.Identity);
                Assert.Equal(before + 1, LeakOracle.FdsOnSameFile(sent)); // the borrowed copy closed, the taken one kept
            }

            Assert.Equal(before, LeakOracle.FdsOnSameFile(sent));
            oracle.ExpectClosedAtEnd(held);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    private struct KernelSeen
    {
        public DrmDevice? Render;
        public uint Handle;
        public string? Refused;
        public DmaBuf? Taken;
    }
}
