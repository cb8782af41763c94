using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using CsCheck;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Property-based hostile-peer fuzzing of the receive path (CsCheck): random bytes, descriptions with wrong magic,
/// version, counts, sizes, strides and offsets, truncated and overlong records, and 0–253 fds of every kind, on
/// stream and seqpacket sockets, into <see cref="UnixFdPassing.ReceiveWithFds"/> (and its async and scoped forms) and
/// <see cref="DmaBufSocketExtensions.ReceiveDmaBufAsync"/>. Invariant for every case: the receive returns or throws
/// a documented exception (never anything else, never a hang), and afterwards the fd table is exactly what it was.
/// </summary>
public sealed class HostileReceiveTests
{
    public enum FdKind { DevNull, Pipe, Memfd, Socket, Fifo, DmaBuf, DrmNode, SyncFile }

    public enum Receiver { ReceiveWithFds, ReceiveWithFdsAsync, ReceiveScoped, ReceiveDmaBuf }

    /// <summary>One hostile message: what is sent, how, and how it is received.</summary>
    public sealed record HostileMessage(bool SeqPacket, Receiver Receiver, byte[] Payload, FdKind[] Fds, int MaxFds, int BufferSize)
    {
        public override string ToString() =>
            $"{(SeqPacket ? "SEQPACKET" : "STREAM")} {Receiver}(buffer {BufferSize}, maxFds {MaxFds}) of {Payload.Length} bytes " +
            $"[{Convert.ToHexString(Payload.AsSpan(0, Math.Min(Payload.Length, 72)))}{(Payload.Length > 72 ? "…" : "")}] with {Fds.Length} fds " +
            $"[{string.Join(",", Fds.GroupBy(k => k).Select(g => $"{g.Key}x{g.Count()}"))}]";
    }

    private static readonly uint[] InterestingU32 = [0, 1, 2, 3, 4, 63, 64, 255, 256, 4095, 4096, 16384, 0x7fffffff, 0x80000000, 0xC0000000, 0xfffffffe, uint.MaxValue];

    private static Gen<uint> U32 => Gen.Frequency((3, Gen.OneOf(InterestingU32)), (1, Gen.UInt));

    /// <summary>A description's wire form (64 bytes) with every field drawn from edge values, often almost valid.</summary>
    private static Gen<byte[]> Description =>
        Gen.Select(
            Gen.Frequency((8, Gen.Const(0x42444950u)), (1, Gen.UInt)),                       // magic
            Gen.Frequency((8, Gen.Const((ushort)1)), (1, Gen.UShort)),                       // version
            Gen.Frequency((6, Gen.UShort[1, 4]), (1, Gen.UShort[0, 6]), (1, Gen.UShort)),    // plane count
            Gen.Frequency((4, Gen.Const(64u)), (3, U32)),                                    // width
            Gen.Frequency((4, Gen.Const(64u)), (3, U32)),                                    // height
            Gen.Frequency((4, Gen.Const(0x34325258u)), (1, Gen.Const(0x3231564eu)), (1, Gen.UInt)), // XR24, NV12, any
            Gen.Frequency((4, Gen.Const(0UL)), (1, Gen.Const(0x00ffffffffffffffUL)), (1, Gen.ULong)),
            Gen.Frequency((4, Gen.Const(256u)), (3, U32)).Array[8])
        .Select((magic, version, count, width, height, format, modifier, plane) =>
        {
            byte[] wire = new byte[DmaBufDescription.WireSize];
            BinaryPrimitives.WriteUInt32LittleEndian(wire, magic);
            BinaryPrimitives.WriteUInt16LittleEndian(wire.AsSpan(4), version);
            BinaryPrimitives.WriteUInt16LittleEndian(wire.AsSpan(6), count);
            BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(8), width);
            BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(12), height);
            BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(16), format);
            BinaryPrimitives.WriteUInt64LittleEndian(wire.AsSpan(24), modifier);
            for (int i = 0; i < 8; i++)
            {
                // offset/stride pairs; 0 offsets and 256 strides make valid XR24 64x64 planes in a 16 KiB buffer
                BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(32 + (4 * i)), i % 2 == 0 && plane[i] == 256 ? 0 : plane[i]);
            }

            return wire;
        });

    private static Gen<byte[]> Payload =>
        Gen.Frequency(
            (3, Gen.Byte.Array[1, 200]),
            (5, Description),
            (2, Gen.Select(Description, Gen.Int[1, 63], (d, n) => d[..n])),                        // short record
            (2, Gen.Select(Description, Gen.Byte.Array[1, 100], (d, extra) => d.Concat(extra).ToArray())),   // long record
            (2, Gen.Select(Description, Gen.Int[0, 63], Gen.Byte, (d, i, b) => { d[i] ^= (byte)(b | 1); return d; })));

    private static Gen<FdKind[]> Fds(FdKind[] kinds) =>
        Gen.Frequency(
            (6, Gen.Frequency((6, Gen.Int[0, 4]), (3, Gen.Int[5, 16]), (1, Gen.Int[17, UnixFdPassing.MaxFdsPerMessage])).SelectMany(n => Gen.OneOf(kinds).Array[n])),
            // what a description needs: 1-4 dma-bufs (where there are dma-bufs), so that some cases are accepted
            (kinds.Contains(FdKind.DmaBuf) ? 3 : 0, Gen.Int[1, 4].Select(n => Enumerable.Repeat(FdKind.DmaBuf, n).ToArray())));

    private static Gen<HostileMessage> Cases(FdKind[] kinds) =>
        Gen.Frequency((9, AnyCase(kinds)), (kinds.Contains(FdKind.DmaBuf) ? 1 : 0, ValidDescription));

    /// <summary>A well-formed one-plane XR24 description of up to 64x64 in the 16 KiB dma-buf: it must be accepted.</summary>
    private static Gen<HostileMessage> ValidDescription =>
        Gen.Select(Gen.Bool, Gen.UInt[1, 64], Gen.UInt[1, 64], Gen.UInt[256, 512])
            .Select((seq, width, height, stride) =>
            {
                height = Math.Min(height, 16384 / stride);
                return new HostileMessage(seq, Receiver.ReceiveDmaBuf, ValidWire(width, height, stride), [FdKind.DmaBuf], 4, DmaBufDescription.WireSize);
            });

    /// <summary>The wire form of a valid description, written by hand (the sender's side is not under test).</summary>
    private static byte[] ValidWire(uint width, uint height, uint stride)
    {
        byte[] wire = new byte[DmaBufDescription.WireSize];
        BinaryPrimitives.WriteUInt32LittleEndian(wire, 0x42444950);
        BinaryPrimitives.WriteUInt16LittleEndian(wire.AsSpan(4), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(wire.AsSpan(6), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(8), width);
        BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(12), height);
        BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(16), 0x34325258); // XR24
        BinaryPrimitives.WriteUInt32LittleEndian(wire.AsSpan(36), stride);
        return wire;
    }

    private static Gen<HostileMessage> AnyCase(FdKind[] kinds) =>
        Gen.Select(Gen.Bool, Gen.Enum<Receiver>(), Payload, Fds(kinds),
                // -1: one fewer than the peer sends (odd counts leave room in the control buffer's padding)
                Gen.Frequency((4, Gen.Const(UnixFdPassing.MaxFdsPerMessage)), (2, Gen.Const(4)), (2, Gen.Const(-1)), (2, Gen.Int[0, UnixFdPassing.MaxFdsPerMessage])),
                Gen.Frequency((3, Gen.Const(DmaBufDescription.WireSize)), (2, Gen.Int[1, 256])))
            .Select((seq, receiver, payload, fds, maxFds, buffer) =>
                new HostileMessage(seq, receiver, payload, fds, maxFds < 0 ? Math.Max(0, fds.Length - 1) : maxFds, buffer));

    /// <summary>One fd of each kind, kept open for the whole run; each case sends dups of them.</summary>
    private sealed class FdSource : IDisposable
    {
        private readonly Dictionary<FdKind, SafeHandle> _prototypes = [];
        private readonly string _fifoDir = Directory.CreateTempSubdirectory("primeinterop-fuzz").FullName;
        private readonly List<IDisposable> _keep = [];

        public FdSource(bool kernel)
        {
            _prototypes[FdKind.DevNull] = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite);
            Assert.Equal(0, Syscall.pipe(out int r, out int w));
            _prototypes[FdKind.Pipe] = new SafeFileHandle(r, true);
            _keep.Add(new SafeFileHandle(w, true));
            int memfd = MemfdCreate();
            Assert.True(memfd >= 0, "memfd_create failed");
            _prototypes[FdKind.Memfd] = new SafeFileHandle(memfd, true);
            var pair = new SocketPair();
            _keep.Add(pair);
            _prototypes[FdKind.Socket] = pair.A.SafeHandle;
            string fifo = Path.Combine(_fifoDir, "fifo");
            Assert.Equal(0, Syscall.mkfifo(fifo, FilePermissions.S_IRUSR | FilePermissions.S_IWUSR));
            Assert.Equal(0, Interop.Libc.Open(fifo, Interop.Libc.O_RDWR | Interop.Libc.O_CLOEXEC | Interop.Libc.O_NONBLOCK, out int fifoFd));
            _prototypes[FdKind.Fifo] = new SafeFileHandle(fifoFd, true);
            if (kernel)
            {
                var card = KernelEnv.OpenVgemCard();
                var dumb = card.CreateDumbBuffer(64, 64, 32);
                var dmaBuf = card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite);
                _keep.Add(dumb);
                _keep.Add(card);
                _prototypes[FdKind.DmaBuf] = dmaBuf;
                _prototypes[FdKind.SyncFile] = dmaBuf.ExportSyncFile(DmaBufAccess.Read);
                _prototypes[FdKind.DrmNode] = File.OpenHandle(KernelEnv.Find("vgem", DrmNodeType.Render)!.Path, FileMode.Open, FileAccess.ReadWrite);
            }
        }

        private static unsafe int MemfdCreate()
        {
            byte* name = stackalloc byte[8];
            "fuzz\0"u8.CopyTo(new Span<byte>(name, 8));
            return Tmds.Linux.LibC.memfd_create(name, 1 /* MFD_CLOEXEC */);
        }

        public bool HasDmaBufs => _prototypes.ContainsKey(FdKind.DmaBuf);

        /// <summary>A well-formed message: a description of the 64x64 dma-buf, or "follow-up" with one pipe fd.</summary>
        public void SendFollowUp(Socket socket, Receiver receiver)
        {
            if (receiver == Receiver.ReceiveDmaBuf)
            {
                using var d = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
                    [new DmaBufPlane(((DmaBuf)_prototypes[FdKind.DmaBuf]).Duplicate(), 0, 256)]);
                byte[] wire = new byte[DmaBufDescription.WireSize];
                d.Write(wire);
                Assert.Equal(wire.Length, socket.SendWithFds(wire, d.Planes[0].Buffer));
                return;
            }

            Assert.Equal(FollowUp.Length, socket.SendWithFds(FollowUp, _prototypes[FdKind.Pipe]));
        }

        public async Task ReceiveFollowUp(Socket socket, HostileMessage c)
        {
            string what = $"the good record after {c}";
            if (c.Receiver == Receiver.ReceiveDmaBuf)
            {
                using var d = await socket.ReceiveDmaBufAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
                Assert.True(d is not null, $"{what} was lost");
                Assert.Equal(((DmaBuf)_prototypes[FdKind.DmaBuf]).Identity, d.Planes[0].Buffer.Identity);
                return;
            }

            using var received = socket.ReceiveWithFds(new byte[64], 4);
            Assert.True(received.Count == 1 && received.BytesReceived == FollowUp.Length, $"{what} arrived as {received.BytesReceived} bytes with {received.Count} fds");
        }

        private static ReadOnlySpan<byte> FollowUp => "follow-up"u8;

        /// <summary>Fresh fds (dups) for one case; the caller disposes them.</summary>
        public SafeFileHandle[] Make(FdKind[] kinds) => [.. kinds.Select(k =>
        {
            Assert.Equal(0, Interop.Libc.DupCloseOnExec((int)_prototypes[k].DangerousGetHandle(), out int dup));
            return new SafeFileHandle(dup, true);
        })];

        public void Dispose()
        {
            foreach (var h in _prototypes.Values.Reverse())
            {
                h.Dispose();
            }

            foreach (var k in Enumerable.Reverse(_keep))
            {
                k.Dispose();
            }

            Directory.Delete(_fifoDir, recursive: true);
        }
    }

    private static readonly FdKind[] HostKinds = [FdKind.DevNull, FdKind.Pipe, FdKind.Memfd, FdKind.Socket, FdKind.Fifo];

    [Fact]
    public Task Hostile_messages_with_host_fds_cost_only_themselves() => Fuzz(kernel: false, iterations: 400);

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public Task Hostile_messages_with_dma_bufs_and_DRM_fds_cost_only_themselves()
    {
        KernelEnv.RequireVgem();
        return Fuzz(kernel: true, iterations: 150);
    }

    private static async Task Fuzz(bool kernel, int iterations)
    {
        FdKind[] kinds = kernel ? Enum.GetValues<FdKind>() : HostKinds;
        using var source = new FdSource(kernel);
        var outcomes = new Dictionary<string, int>();
        // Under qemu-user (the arm64 run) only cases whose fds fit the receiver's control room: see FitsControlRoom.
        var cases = ChildProcess.Emulator is null ? Cases(kinds) : Cases(kinds).Where(FitsControlRoom);
        await cases.SampleAsync(async c =>
        {
            string outcome = await RunCase(source, c);
            lock (outcomes)
            {
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
        }, iter: iterations, threads: 1, print: c => c.ToString());
        TestContext.Current.TestOutputHelper?.WriteLine($"{iterations} cases (plus shrinking): {string.Join(", ", outcomes.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value}"))}");
    }

    /// <summary>
    /// Whether the kernel can hand the receiver every fd of the case (in its control room), so truncates none. Under
    /// qemu-user the others cannot run: qemu gives the kernel twice the control room the program asked for and, when
    /// the fds that arrive do not fit the program's, copies those that fit and leaves the rest open in the process
    /// (qemu linux-user/syscall.c: do_sendrecvmsg_locked, host_to_target_cmsg), a leak no program can see or close. A
    /// real kernel installs only the fds that fit; the x86-64 run covers those cases with the same code.
    /// </summary>
    private static bool FitsControlRoom(HostileMessage c) =>
        Interop.ScmRights.CmsgLen(c.Fds.Length * sizeof(int))
        <= Interop.ScmRights.ReceiveControlLength(c.Receiver == Receiver.ReceiveDmaBuf ? 4 : c.MaxFds); // ReceiveDmaBufAsync: room for 4 planes

    /// <summary>Sends the case, receives it, checks the invariant; returns what happened, for the statistics.</summary>
    private static async Task<string> RunCase(FdSource source, HostileMessage c)
    {
        using var oracle = new LeakOracle();
        string outcome;
        using (var pair = new SocketPair(c.SeqPacket ? UnixSocketType.SOCK_SEQPACKET : UnixSocketType.SOCK_STREAM))
        {
            SafeFileHandle[] fds = source.Make(c.Fds);
            try
            {
                Assert.Equal(c.Payload.Length, pair.A.SendWithFds(c.Payload, [.. fds]));
            }
            finally
            {
                foreach (var fd in fds)
                {
                    fd.Dispose();
                }
            }

            // On a seqpacket socket one bad record costs that record only: a good one sent after it arrives intact.
            bool followUp = c.SeqPacket && (c.Receiver != Receiver.ReceiveDmaBuf || source.HasDmaBufs);
            if (followUp)
            {
                source.SendFollowUp(pair.A, c.Receiver);
            }

            pair.A.Shutdown(SocketShutdown.Send); // a receiver that wants more gets the end, not a hang

            Task<string> receive = c.Receiver switch
            {
                Receiver.ReceiveWithFds => Task.Run(() => Received(c, pair.B.ReceiveWithFds(new byte[c.BufferSize], c.MaxFds))),
                Receiver.ReceiveWithFdsAsync => pair.B.ReceiveWithFdsAsync(new byte[c.BufferSize], c.MaxFds, TestContext.Current.CancellationToken).AsTask().ContinueWith(t => Received(c, t.GetAwaiter().GetResult()), TaskScheduler.Default),
                Receiver.ReceiveScoped => Task.Run(() => ReceivedScoped(c, pair.B)),
                _ => ReceiveDescription(pair.B, c),
            };
            try
            {
                outcome = await receive.WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"the receive hung: {c}");
                throw;
            }
            catch (Exception e) when (e is Xunit.Sdk.IAssertionException)
            {
                throw;
            }
            catch (Exception e) when (IsDocumented(e))
            {
                outcome = e.GetType().Name;
            }
            catch (Exception e)
            {
                Assert.Fail($"undocumented {e.GetType().Name} from {c.Receiver}: {e.Message}\n{e}");
                throw;
            }

            if (followUp)
            {
                await source.ReceiveFollowUp(pair.B, c);
            }
        }

        oracle.Verify();
        return outcome;
    }

    /// <summary>
    /// What a peer sends wrong is InvalidDataException, for both receivers (more fds than allowed, a record larger
    /// than the buffer, a malformed description). No transport error is possible here (the socket is healthy), so a
    /// DrmException or any other IOException is never right.
    /// </summary>
    private static bool IsDocumented(Exception e) => e is InvalidDataException;

    private static string Received(HostileMessage c, ReceivedFds received)
    {
        using (received)
        {
            Assert.True(received.Count <= Math.Min(c.MaxFds, c.Fds.Length), $"{c.Receiver}(maxFds: {c.MaxFds}) returned {received.Count} fds for {c.Fds.Length} sent");
            Assert.InRange(received.BytesReceived, 1, c.BufferSize);
            for (int i = 0; i < received.Count; i++)
            {
                using var fd = received.TakeFile(i);
                Assert.True(TestLibc.IsCloseOnExec((int)fd.DangerousGetHandle(), out bool cloexec) == 0 && cloexec, $"received fd #{i} is not close-on-exec");
            }

            return "received";
        }
    }

    /// <summary>
    /// The lane: the body takes every other fd (and checks it is close-on-exec) and asks the kernel whether one it
    /// leaves is a dma-buf; the scope closes the rest. The oracle afterwards proves both halves are gone.
    /// </summary>
    private static string ReceivedScoped(HostileMessage c, Socket socket)
    {
        var seen = (Case: c, Calls: 0);
        int bytes = socket.ReceiveScoped(new byte[c.BufferSize], c.MaxFds, ref seen, static (scoped BorrowedReceivedFds fds, ref (HostileMessage Case, int Calls) s) =>
        {
            s.Calls++;
            Assert.True(fds.Count <= Math.Min(s.Case.MaxFds, s.Case.Fds.Length), $"ReceiveScoped(maxFds: {s.Case.MaxFds}) lent {fds.Count} fds for {s.Case.Fds.Length} sent");
            for (int i = 0; i < fds.Count; i += 2)
            {
                using var fd = fds.TakeFile(i);
                Assert.True(TestLibc.IsCloseOnExec((int)fd.DangerousGetHandle(), out bool cloexec) == 0 && cloexec, $"received fd #{i} is not close-on-exec");
            }

            if (fds.Count > 1)
            {
                try
                {
                    fds.BorrowDmaBuf(1);
                }
                catch (InvalidDataException)
                {
                    // not a dma-buf: the kernel said so; it stays lent and the scope closes it
                }
            }
        });
        Assert.Equal(1, seen.Calls);
        Assert.InRange(bytes, 1, c.BufferSize);
        return "received";
    }

    private static async Task<string> ReceiveDescription(Socket socket, HostileMessage c)
    {
        using DmaBufDescription? d = await socket.ReceiveDmaBufAsync(TestContext.Current.CancellationToken);
        Assert.NotNull(d); // at least one byte was sent
        // Accepted: every plane is a dma-buf that really was sent as one, and fits its buffer.
        Assert.InRange(d.Planes.Count, 1, 4);
        for (int i = 0; i < d.Planes.Count; i++)
        {
            Assert.Equal(FdKind.DmaBuf, c.Fds[i]);
            Assert.True(d.Planes[i].Buffer.Size >= d.Planes[i].Offset);
        }

        return "description accepted";
    }
}
