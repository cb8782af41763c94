using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// No span, handle or fd escapes its owner, against the real kernel: copied access scopes, a device's file handle
/// disposed by its caller, handles that hold no fd, a pidfd with every message, O_PATH fds of dma-bufs from a peer.
/// Each test is named after the careless call or hostile input it survives; <see cref="NoEscapeHostTests"/> has the rest.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class NoEscapeTests
{
    // ---- Ending a scope is once, across copies ----

    [Fact]
    public void Copies_of_an_access_scope_disposed_in_every_order_end_it_once_and_the_survivor_cannot_read()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            int[][] orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
            foreach (int[] order in orders)
            {
                foreach (bool beside in new[] { false, true })
                {
                    var dmaBufMapping = dmaBuf.Map(DmaBufAccess.ReadWrite);
                    ScopesInOrder("dma-buf", () => dmaBufMapping.BeginAccess(DmaBufAccess.ReadWrite), dmaBufMapping.Dispose,
                        static (in DmaBufCpuAccess s) => s.Span, static (in DmaBufCpuAccess s) => s.Dispose(), order, beside);
                    var dumbMapping = dumb.Map();
                    ScopesInOrder("dumb buffer", dumbMapping.BeginAccess, dumbMapping.Dispose,
                        static (in DumbBufferCpuAccess s) => s.Span, static (in DumbBufferCpuAccess s) => s.Dispose(), order, beside);
                }
            }
        }

        oracle.Verify(); // every mapping went, and its hold on the dma-buf with it
    }

    private delegate Span<byte> SpanOf<TScope>(in TScope scope)
        where TScope : allows ref struct;

    private delegate void DisposeOf<TScope>(in TScope scope)
        where TScope : allows ref struct;

    /// <summary>
    /// Steps 0 and 1 dispose a scope and its copy, step 2 the mapping, in <paramref name="order"/>; a third copy
    /// survives, never disposed by the test, beside a second, independent scope on the same mapping. The copied scope
    /// is the first one open on the mapping, or, <paramref name="beside"/>, one begun while another is open.
    /// </summary>
    private static void ScopesInOrder<TScope>(string kind, Func<TScope> begin, Action disposeMapping, SpanOf<TScope> span, DisposeOf<TScope> dispose, int[] order, bool beside)
        where TScope : allows ref struct
    {
        TScope first = begin(), second = begin();
        TScope scope = beside ? second : first, other = beside ? first : second;
        TScope copy = scope, survivor = scope;
        IntPtr address = AddressOf(span(other));
        string what = $"{kind} scope{(beside ? " begun beside another" : "")}, order {string.Join(",", order)}";
        bool ended = false;
        foreach (int step in order)
        {
            switch (step)
            {
                case 0: dispose(scope); break;
                case 1: dispose(copy); break;
                default: disposeMapping(); break;
            }

            ended |= step != 2;
            // The other scope still holds the mapping: before, the second end of one scope released it under it.
            Assert.True(SafetyContractTests.IsMapped(address), $"{what}: unmapped under an open scope after step {step}");
            Pattern.Fill(span(other), (uint)step);
            Assert.Equal(ended, Ended(survivor, span));
        }

        dispose(other);
        Assert.False(SafetyContractTests.IsMapped(address), $"{what}: the last scope's end did not unmap");
        dispose(survivor); // ended already: nothing happens
        Assert.True(Ended(other, span));
    }

    /// <summary>True when reading the scope's span throws ObjectDisposedException (its scope has ended); false when it reads.</summary>
    private static bool Ended<TScope>(in TScope scope, SpanOf<TScope> span)
        where TScope : allows ref struct
    {
        try
        {
            return span(scope)[0] < 0; // a read: false, when it does not throw
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    private static unsafe IntPtr AddressOf(Span<byte> span) => (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));

    // ---- A device's file handle is not the caller's to close ----

    [Fact]
    public void Disposing_a_devices_FileHandle_cannot_make_it_import_into_or_close_handles_of_the_next_devices_file()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var first = card.CreateDumbBuffer(32, 32, 32))
        using (var second = card.CreateDumbBuffer(32, 32, 32))
        using (var x = card.ExportDmaBuf(first.Handle))
        using (var y = card.ExportDmaBuf(second.Handle))
        {
            oracle.ExpectClosedAtEnd(first.Handle);
            oracle.ExpectClosedAtEnd(second.Handle);
            var a = KernelEnv.OpenVgemRender();
            int aFd = (int)a.FileHandle.DangerousGetHandle();
            a.FileHandle.Dispose(); // the careless call: before, this closed a's fd, and the next open reused the number
            a.FileHandle.Close();
            using var b = KernelEnv.OpenVgemRender();
            bool numberReused = aFd == (int)b.FileHandle.DangerousGetHandle();

            using var onB = b.ImportDmaBuf(x);
            oracle.ExpectClosedAtEnd(onB);
            using (var onA = a.ImportDmaBuf(x)) // before: into b's file, the same kernel handle as onB ...
            {
                oracle.ExpectClosedAtEnd(onA);
            } // ... and its dispose closed b's handle

            a.Dispose();
            using var onB2 = b.ImportDmaBuf(y); // before: the kernel reused onB's closed number for y
            oracle.ExpectClosedAtEnd(onB2);
            using (var back = b.ExportDmaBuf(onB))
            {
                Assert.Equal(x.Identity, back.Identity); // before: ENOENT, or y exported in x's place
            }

            Assert.NotEqual(onB.Value, onB2.Value);
            Assert.False(numberReused, "b was opened on a's fd number: a's file had been closed under it");
            Assert.True(a.FileHandle.IsClosed, "the disposed device closed its file once nothing held it");
        }

        oracle.Verify();
    }

    // ---- Only real fds are taken as fds ----

    [Fact]
    public void ImportDmaBuf_of_a_SafeProcessHandle_whose_pid_is_a_dma_buf_fds_number_is_refused_naming_the_type()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        using (var process = new SafeProcessHandle(dmaBuf.DangerousGetHandle(), ownsHandle: false))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            var e = Assert.Throws<ArgumentException>(() => render.ImportDmaBuf(process)); // before: imported the dma-buf
            Assert.Contains(nameof(SafeProcessHandle), e.Message, StringComparison.Ordinal);
            int calls = 0;
            e = Assert.Throws<ArgumentException>(() => render.ImportScoped(process, ref calls, static (scoped BorrowedGemHandle h, ref int c) => c++));
            Assert.Contains(nameof(SafeProcessHandle), e.Message, StringComparison.Ordinal);
            Assert.Equal(0, calls);
            Assert.Equal(0, render.OpenObjectCount);

            using var fd = new SafeFileHandle(dmaBuf.DangerousGetHandle(), ownsHandle: false); // the way to lend an fd number
            using var imported = render.ImportDmaBuf(fd);
            oracle.ExpectClosedAtEnd(imported);
        }

        oracle.Verify();
    }

    // ---- Every fd a control message carries is closed unless returned ----

    [Fact]
    public async Task A_socket_with_SO_PASSPIDFD_and_SO_PASSCRED_leaks_no_pidfd_on_any_receive_path_dma_bufs_included()
    {
        KernelEnv.RequireCapability(KernelEnv.PassPidFd);
        using var card = KernelEnv.OpenVgemCard();
        using var dumb = card.CreateDumbBuffer(64, 64, 32);
        using var dmaBuf = card.ExportDmaBuf(dumb.Handle);
        await NoEscapeHostTests.EveryReceiveClosesThePidFdOfItsMessage(dmaBuf);
    }

    // ---- An O_PATH fd of a dma-buf is not a dma-buf ----

    [Fact]
    public async Task An_O_PATH_fd_of_a_dma_buf_from_a_peer_is_refused_as_not_a_dma_buf_on_every_path()
    {
        var ct = TestContext.Current.CancellationToken;
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            oracle.ExpectClosedAtEnd(dumb.Handle);
            ErrnoAssert.Equal(0, Libc.Open($"/proc/self/fd/{dmaBuf.FileDescriptor}", Libc.O_PATH | Libc.O_CLOEXEC, out int pathFd));
            using var pathOnly = new SafeFileHandle(pathFd, ownsHandle: true);
            Assert.Equal(0, Libc.FileSystemType(pathFd, out long type));
            Assert.Equal(Libc.DMA_BUF_MAGIC, type); // what fooled the check: fstatfs answers for an O_PATH fd too

            // The peer sends it as a plane: before, it passed the check and the description's size read failed (EBADF,
            // a DrmException: the transport error type).
            pair.A.SendWithFds(SafetyContractHostTests.Description(planes: 1, stride: dumb.Pitch), pathOnly);
            var e = await Assert.ThrowsAsync<InvalidDataException>(async () => await pair.B.ReceiveDmaBufAsync(ct));
            Assert.Contains("O_PATH", e.Message, StringComparison.Ordinal);

            pair.A.SendWithFds("t"u8, pathOnly);
            using (var received = pair.B.ReceiveWithFds(new byte[4]))
            {
                Assert.Throws<InvalidDataException>(() => received.TakeDmaBuf(0));
            }

            pair.A.SendWithFds("b"u8, pathOnly);
            string? refused = null;
            pair.B.ReceiveScoped(new byte[4], 1, ref refused, static (scoped BorrowedReceivedFds fds, ref string? why) =>
            {
                try
                {
                    fds.BorrowDmaBuf(0);
                }
                catch (InvalidDataException x)
                {
                    why = x.Message;
                }
            });
            Assert.Contains("O_PATH", refused, StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => DmaBuf.FromFileDescriptor(pathFd, ownsHandle: false));

            // The real dma-buf, on the same paths, is still a dma-buf.
            pair.A.SendWithFds(SafetyContractHostTests.Description(planes: 1, stride: dumb.Pitch), dmaBuf);
            using var good = await pair.B.ReceiveDmaBufAsync(ct);
            Assert.Equal(dmaBuf.Identity, good!.Planes[0].Buffer.Identity);
        }

        oracle.Verify();
    }

    // ---- udmabuf: checked sums, and the caller's file offset left alone ----

    [Fact]
    public void Udmabuf_Create_on_kernel_A_leaves_the_callers_memfd_offset_alone_and_refuses_sums_past_long_MaxValue()
    {
        KernelEnv.RequireCapability("udmabuf");
        UdmabufTests.CreateLeavesTheMemfdOffsetAlone();
        UdmabufTests.RangesAddingUpPastLongMaxValueAreRefused();
    }
}
