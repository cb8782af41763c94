using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PrimeInterop.Bench;

/// <summary>The C# side of every path, on devices and buffers set up once (the 10,000 live handles included).</summary>
internal sealed class ManagedBench : IDisposable
{
    private const int ScaleHandles = 10_000;

    /// <summary>
    /// The path groups that each run in a process of their own (scale-10k with the round trip it is compared with,
    /// both fd-passing sizes together). Tier-1 code of shared methods (SafeHandle's, the library's) is compiled with
    /// the dynamic PGO profile of whatever ran before: in one process for all, a change to one group's floor code
    /// moved another group's ratio by 0.02.
    /// </summary>
    public static readonly string[] Processes = ["export", "roundtrip", "access", "fdpass", "dup-import", "wait", Paths.Flip, Paths.FlipPoolSpin];

    /// <summary>
    /// The runtime settings of a group's process. A frame that waits for its vblank leaves the process idle, and a
    /// thread-pool worker that runs out of work spins before it sleeps (on one CPU: 60 yields), so every frame pays
    /// each worker's whole spin, the runtime's and not the library's: the flip group runs with the spin off, as a
    /// frame loop should, and flip-pool-spin with .NET's default, to show what it costs.
    /// </summary>
    public static IEnumerable<(string Name, string? Value)> EnvironmentOf(string process) => process switch
    {
        Paths.Flip => [(PoolSpinLimit, "0")],
        Paths.FlipPoolSpin => [(PoolSpinLimit, null)],
        _ => [],
    };

    private const string PoolSpinLimit = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary>The buffers of wait-1k, awaited at once.</summary>
    private const int WaitBuffers = 1000;

    private readonly DrmDevice _card = DrmDevice.OpenByDriver("vgem", DrmNodeType.Primary);
    private readonly DrmDevice _render = DrmDevice.OpenByDriver("vgem", DrmNodeType.Render);
    private readonly DrmDevice _scale = DrmDevice.OpenByDriver("vgem", DrmNodeType.Render);
    private readonly List<GemHandle> _scaleHandles = new(ScaleHandles);
    private readonly DumbBuffer _dumb;
    private readonly DmaBuf _held;
    private readonly DmaBufMapping _mapping;
    private readonly DmaBuf[] _passed = new DmaBuf[4];
    private readonly int[] _passedFds = new int[4];
    private readonly Socket _peer;
    private readonly Process _echo;
    private readonly NativeLoops _native;
    private readonly byte[] _payload = new byte[8];
    private Waits? _waits; // the wait group's buffers, made on its first run
    private Flips? _flips; // the flip group's scene on vkms (Unavailable makes it)

    public ManagedBench(string native, NativeLoops loops)
    {
        _native = loops;
        _dumb = _card.CreateDumbBuffer(64, 64, 32);
        _held = _card.ExportDmaBuf(_dumb.Handle, DmaBufExportFlags.ReadWrite); // first: card caches its mode
        _mapping = _held.Map(DmaBufAccess.ReadWrite);
        for (int i = 0; i < _passed.Length; i++)
        {
            _passed[i] = _card.ExportDmaBuf(_dumb.Handle);
            _passedFds[i] = Fd(_passed[i]);
        }

        for (int i = 0; i < ScaleHandles; i++)
        {
            using DumbBuffer small = _card.CreateDumbBuffer(1, 1, 32);
            using DmaBuf fd = _card.ExportDmaBuf(small.Handle);
            _scaleHandles.Add(_scale.ImportDmaBuf(fd));
        }

        // The echo peer is native/prime-bench's own echo loop, the one its C loop forks.
        string path = Path.Combine(Path.GetTempPath(), $"prime-bench-{Environment.ProcessId}.sock");
        File.Delete(path);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        _echo = Process.Start(new ProcessStartInfo(native, ["echo", path]))!;
        _peer = listener.Accept();
        File.Delete(path);
    }

    /// <summary>
    /// Why <paramref name="process"/>'s paths cannot be measured on this kernel (the flip group without vkms), or null;
    /// sets up what the group needs that may be missing.
    /// </summary>
    public string? Unavailable(string process)
    {
        if (process is not (Paths.Flip or Paths.FlipPoolSpin))
        {
            return null;
        }

        _flips = Flips.Open(_card, out string? reason);
        return reason;
    }

    /// <summary>
    /// One round: for each C scenario, its C loop (in-process, on the same fds) right before and right after the C#
    /// loops it is held against, whose order flips every round. The C time is the mean of the two runs, so C and C#
    /// are timed within a fraction of a second of each other and a drift in the host's load hits both alike.
    /// </summary>
    /// <returns>
    /// C# ns per op, managed bytes allocated per op, and minor page faults per 1,000 ops for every path; C ns per op
    /// per scenario.
    /// </returns>
    /// <param name="n">Ops per loop.</param>
    /// <param name="round">The round: odd rounds run the C# loops in reverse order.</param>
    /// <param name="process">One of <see cref="Processes"/>: only its groups run.</param>
    public (Dictionary<string, double> Ns, Dictionary<string, double> C, Dictionary<string, double> Alloc, Dictionary<string, double> Faults) Run(int n, int round, string process)
    {
        if (!Processes.Contains(process))
        {
            throw new ArgumentException($"bench: no group of paths is called '{process}' (one of {string.Join(", ", Processes)})", nameof(process));
        }

        bool On(string name) => process == name;
        var ns = new Dictionary<string, double>();
        var c = new Dictionary<string, double>();
        var alloc = new Dictionary<string, double>();
        var faults = new Dictionary<string, double>();
        int messages = Math.Max(1, n / 4);
        int card = (int)_card.FileHandle.DangerousGetHandle(), render = (int)_render.FileHandle.DangerousGetHandle();
        int scale = (int)_scale.FileHandle.DangerousGetHandle(), held = (int)_held.DangerousGetHandle(), peer = Fd(_peer.SafeHandle);
        uint handle = _dumb.Handle.Value;
        bool reverse = round % 2 == 1;
        var table = new Floor.Table();
        var gem = new Floor.Holder(); // stands in for the GemHandle's hold
        var renderHold = new Floor.Holder(); // for the render device's
        var mappingHold = new Floor.Holder(); // for the mapping's

        if (On("export"))
        {
            Group(Paths.Export, () => _native.Export(card, handle, n),
                (Paths.Export, n, Export),
                (Paths.LaneExport, n, LaneExport),
                (Paths.RawExport, n, k => Floor.RawExport(card, handle, k)),
                (Paths.FloorExport, n, k => Floor.Export(card, handle, k)),
                (Paths.RulesExport, n, k => Floor.RulesExport(gem, card, handle, k)),
                (Paths.RulesLaneExport, n, k => Floor.RulesLaneExport(gem, card, handle, k)));
        }

        // Round trips import an object render does not hold: a fresh handle, and GEM_CLOSE at the end, as in C.
        if (On("roundtrip"))
        {
            Group(Paths.RoundTrip, () => _native.RoundTrip(card, render, handle, n),
                (Paths.RoundTrip, n, RoundTrip),
                (Paths.LaneRoundTrip, n, LaneRoundTrip),
                (Paths.RawRoundTrip, n, k => Floor.RawRoundTrip(card, render, handle, k)),
                (Paths.FloorRoundTrip, n, k => Floor.RoundTrip(card, render, handle, k)),
                (Paths.RulesRoundTrip, n, k => Floor.RulesRoundTrip(table, gem, card, renderHold, render, handle, k)),
                (Paths.RulesLaneRoundTrip, n, k => Floor.RulesLaneRoundTrip(table, gem, card, renderHold, render, handle, k)),
                (Paths.RulesLaneCallbackRoundTrip, n, k => Floor.RulesLaneCallbackRoundTrip(table, gem, card, renderHold, render, handle, k)));

            Group(Paths.Scale, () => _native.RoundTrip(card, scale, handle, n), (Paths.Scale, n, Scale));
            c[Paths.RoundTrip + Paths.Locked] = _native.RoundTripLocked(card, render, handle, n);
        }

        if (On("access"))
        {
            Group(Paths.Access, () => _native.Access(held, n),
                (Paths.Access, n, Access),
                (Paths.RawAccess, n, k => Floor.RawAccess(held, k)),
                (Paths.RawFinallyAccess, n, k => Floor.RawFinallyAccess(held, k)),
                (Paths.RulesAccess, n, k => Floor.RulesAccess(mappingHold, held, k)));
        }

        // Both sides talk to the same echo peer over the same socket.
        if (On("fdpass"))
        {
            Group(Paths.FdPass1, () => _native.FdPass(peer, _passedFds.AsSpan(0, 1), messages),
                (Paths.FdPass1, messages, k => FdPass(k, 1)),
                (Paths.LaneFdPass1, messages, k => LaneFdPass(k, 1)),
                (Paths.RawFdPass1, messages, k => Floor.FdPass(peer, _passedFds.AsSpan(0, 1), k)),
                (Paths.FloorFdPass1, messages, k => Floor.FloorFdPass(peer, _passedFds.AsSpan(0, 1), k)),
                (Paths.RulesFdPass1, messages, k => Floor.RulesFdPass(_peer.SafeHandle, _passed.AsSpan(0, 1), k)));
            Group(Paths.FdPass4, () => _native.FdPass(peer, _passedFds.AsSpan(0, 4), messages),
                (Paths.FdPass4, messages, k => FdPass(k, 4)),
                (Paths.LaneFdPass4, messages, k => LaneFdPass(k, 4)),
                (Paths.RawFdPass4, messages, k => Floor.FdPass(peer, _passedFds.AsSpan(0, 4), k)),
                (Paths.FloorFdPass4, messages, k => Floor.FloorFdPass(peer, _passedFds.AsSpan(0, 4), k)),
                (Paths.RulesFdPass4, messages, k => Floor.RulesFdPass(_peer.SafeHandle, _passed.AsSpan(0, 4), k)));
            alloc[Paths.Send] = SendAllocation(Math.Min(messages, 100));
        }

        // Duplicate imports: render holds the object meanwhile (C is told the handle the library holds).
        if (On("dup-import"))
        {
            using GemHandle heldImport = _render.ImportDmaBuf(_held);
            // The held import is in the library's table, not this one: count it here too, so no release is the last.
            uint heldHandle = heldImport.Value;
            table.Import(render, held);
            // dup-import asks the kernel every time: through a DmaBuf that does not own its fd (a borrowed number may
            // name another buffer at any time, so it remembers no import). reimport is the DmaBuf that owns it,
            // imported again while render holds its object: no syscall.
            using DmaBuf borrowed = DmaBuf.FromFileDescriptor(held, ownsHandle: false);
            double locked = _native.DupImportLocked(render, held, heldHandle, n);
            Group(Paths.DupImport, () => _native.DupImport(render, held, heldHandle, n),
                (Paths.DupImport, n, k => DupImport(borrowed, k)),
                (Paths.LaneDupImport, n, k => LaneDupImport(borrowed, k)),
                (Paths.Reimport, n, k => DupImport(_held, k)),
                (Paths.LaneReimport, n, k => LaneDupImport(_held, k)),
                (Paths.RawDupImport, n, k => Floor.RawDupImport(render, held, k)),
                (Paths.FloorDupImport, n, k => Floor.DupImport(render, held, k)),
                (Paths.RulesDupImport, n, k => Floor.RulesDupImport(table, renderHold, render, _held, k)),
                (Paths.RulesLaneDupImport, n, k => Floor.RulesLaneDupImport(table, renderHold, render, _held, k)));
            table.Forget(heldHandle); // no GEM_CLOSE: the library's heldImport still holds the handle
            c[Paths.DupImport + Paths.Locked] = (locked + _native.DupImportLocked(render, held, heldHandle, n)) / 2;
        }

        // Fence waits: the same peer thread (native) signals the fences of both sides; C re-arms its own epoll set, C#
        // awaits WaitReadyAsync (the poller's thread, then a thread-pool continuation).
        if (On("wait"))
        {
            Waits w = _waits ??= new Waits(_card, WaitBuffers);
            _native.PeerStart(card);
            int rounds1k = Math.Max(1, n / WaitBuffers);
            Group(Paths.Wait1, () => _native.Wait1(card, w.Handles[0], w.Fds[0], n), (Paths.Wait1, n, k => Wait1Async(w, card, k).GetAwaiter().GetResult()));
            double cLast = 0, managedLast = 0;
            Group(Paths.Wait1k, () =>
                {
                    double t = _native.Wait1k(card, w.Handles, w.Fds, w.Order, rounds1k, out double last);
                    cLast += last / 2;
                    return t;
                },
                (Paths.Wait1k, rounds1k * WaitBuffers, k => managedLast = Wait1kAsync(w, card, rounds1k).GetAwaiter().GetResult()));
            ns[Paths.Wait1kLast] = managedLast;
            c[Paths.Wait1kLast] = cLast;
            alloc[Paths.Wait1kLast] = alloc[Paths.Wait1k];
            faults[Paths.Wait1kLast] = faults[Paths.Wait1k];
        }

        // Flips: the CPU time of every process per frame (pb_busy_ns) beside guest time, which runs on through the idle
        // wait for each vblank; C before and after the C# loop, as Group does.
        if (On(Paths.Flip) || On(Paths.FlipPoolSpin))
        {
            Flips f = _flips ?? throw new InvalidOperationException("bench: the flip group's scene was not set up (Unavailable)");
            _native.PeerStart(card);
            int frames = Math.Max(2, n / 20);
            double cWall = 0, cBusy = 0;
            NativeFlip();
            GC.Collect(0);
            var (wall, busy, bytes, pageFaults) = f.RunAsync(_native, card, frames).GetAwaiter().GetResult();
            NativeFlip();
            foreach (string path in Paths.OfGroup(process))
            {
                bool isWall = path == Paths.FlipWall;
                ns[path] = isWall ? wall : busy;
                c[path] = isWall ? cWall : cBusy;
                alloc[path] = bytes;
                faults[path] = pageFaults;
            }

            void NativeFlip()
            {
                cWall += _native.Flip(card, f.Handles, f.Fds, f.KmsFd, f.Plane, f.FbIdProperty, f.Framebuffers, frames, out double b) / 2;
                cBusy += b / 2;
            }
        }

        if (_render.OpenObjectCount != 0)
        {
            throw new InvalidOperationException("bench: render still holds handles after a run");
        }

        return (ns, c, alloc, faults);

        void Group(string scenario, Func<double> native, params (string Path, int Count, Action<int> Body)[] loops)
        {
            double before = native();
            for (int i = 0; i < loops.Length; i++)
            {
                var (path, count, body) = loops[reverse ? loops.Length - 1 - i : i];
                // Each C# loop starts on an empty generation 0, as BenchmarkDotNet forces a collection before each
                // iteration: otherwise the collection that the rounds' allocations trigger lands, in the same place
                // every other round, inside whichever loop is running then (seen in the icount clock as one path
                // alternating between 2.9 and 6.4 µs per op, round by round).
                // The page faults are counted too: whether the collection hands a loop GC heap pages the kernel must
                // map again is up to the GC, not the loop, and each one costs as much as dozens of operations.
                GC.Collect(0);
                long a0 = GC.GetTotalAllocatedBytes(precise: true); // every thread's: a wait's continuation runs on the pool
                long f0 = Floor.MinorFaults();
                long t0 = Stopwatch.GetTimestamp();
                RunLoop(body, count);
                double elapsed = Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
                long f1 = Floor.MinorFaults();
                long a1 = GC.GetTotalAllocatedBytes(precise: true);
                ns[path] = elapsed / count;
                alloc[path] = (a1 - a0) / (double)count;
                faults[path] = (f1 - f0) * 1000.0 / count;
            }

            c[scenario] = (before + native()) / 2;
        }
    }

    /// <summary>
    /// Runs a measured loop in its own method's code, as C's loops are functions of their own: optimized, this call
    /// site's profile could let the JIT devirtualize it and inline the loop into <see cref="Run"/>, whose register
    /// pressure differs. That happened to access in some processes and not in others (1.0996 or 1.1096).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
    private static void RunLoop(Action<int> body, int count) => body(count);

    public void Dispose()
    {
        _flips?.Dispose();
        _waits?.Dispose();
        _peer.Dispose(); // EOF: the echo peer exits
        _echo.WaitForExit();
        _echo.Dispose();
        foreach (DmaBuf d in _passed)
        {
            d.Dispose();
        }

        _scaleHandles.ForEach(h => h.Dispose());
        _mapping.Dispose();
        _held.Dispose();
        _dumb.Dispose();
        _scale.Dispose();
        _render.Dispose();
        _card.Dispose();
    }

    private void Export(int n)
    {
        for (int i = 0; i < n; i++)
        {
            using DmaBuf fd = _card.ExportDmaBuf(_dumb.Handle);
        }
    }

    private void RoundTrip(int n)
    {
        for (int i = 0; i < n; i++)
        {
            using DmaBuf fd = _card.ExportDmaBuf(_dumb.Handle);
            using GemHandle imported = _render.ImportDmaBuf(fd);
        }
    }

    private void DupImport(DmaBuf buffer, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using GemHandle again = _render.ImportDmaBuf(buffer);
        }
    }

    private void Scale(int n)
    {
        for (int i = 0; i < n; i++)
        {
            using DmaBuf fd = _card.ExportDmaBuf(_dumb.Handle);
            using GemHandle imported = _scale.ImportDmaBuf(fd);
        }
    }

    private void Access(int n)
    {
        for (int i = 0; i < n; i++)
        {
            using DmaBufCpuAccess access = _mapping.BeginAccess(DmaBufAccess.ReadWrite);
        }
    }

    private void LaneExport(int n)
    {
        var state = new LaneState { Render = _render };
        for (int i = 0; i < n; i++)
        {
            _card.ExportScoped(_dumb.Handle, ref state, static (scoped BorrowedDmaBuf fd, ref LaneState s) => s.Count++);
        }

        Check(state.Count, n);
    }

    private void LaneRoundTrip(int n)
    {
        var state = new LaneState { Render = _render };
        for (int i = 0; i < n; i++)
        {
            _card.ExportScoped(_dumb.Handle, ref state, static (scoped BorrowedDmaBuf fd, ref LaneState s) =>
                s.Render.ImportScoped(fd, ref s, static (scoped BorrowedGemHandle h, ref LaneState s) => s.Count++));
        }

        Check(state.Count, n);
    }

    private void LaneDupImport(DmaBuf buffer, int n)
    {
        var state = new LaneState { Render = _render };
        for (int i = 0; i < n; i++)
        {
            _render.ImportScoped(buffer, ref state, static (scoped BorrowedGemHandle h, ref LaneState s) => s.Count++);
        }

        Check(state.Count, n);
    }

    private void FdPass(int n, int count)
    {
        ReadOnlySpan<SafeHandle> fds = _passed.AsSpan(0, count);
        Span<byte> buffer = stackalloc byte[8];
        for (int i = 0; i < n; i++)
        {
            Send(fds);
            using ReceivedFds got = _peer.ReceiveWithFds(buffer, 4);
            Check(got.Count, count);
        }
    }

    /// <summary>The receive through the lane: the fds are lent to the body and closed when it returns.</summary>
    private void LaneFdPass(int n, int count)
    {
        ReadOnlySpan<SafeHandle> fds = _passed.AsSpan(0, count);
        Span<byte> buffer = stackalloc byte[8];
        int received = 0;
        for (int i = 0; i < n; i++)
        {
            Send(fds);
            _peer.ReceiveScoped(buffer, 4, ref received, static (scoped BorrowedReceivedFds got, ref int r) => r += got.Count);
        }

        Check(received, n * count);
    }

    private void Send(ReadOnlySpan<SafeHandle> fds)
    {
        int sent = _peer.SendWithFds(_payload, fds);
        Check(sent, _payload.Length);
    }

    /// <summary>Bytes allocated by SendWithFds alone (of existing DmaBufs), per message.</summary>
    private double SendAllocation(int n)
    {
        ReadOnlySpan<SafeHandle> fds = _passed;
        Span<byte> buffer = stackalloc byte[8];
        long total = 0;
        for (int i = 0; i < n; i++)
        {
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            Send(fds);
            total += GC.GetAllocatedBytesForCurrentThread() - a0;
            using ReceivedFds got = _peer.ReceiveWithFds(buffer, 4);
        }

        return total / (double)n;
    }

    /// <summary>wait-1: a fence, the wait (re-armed), the fence to the peer, the await; as C's loop, with the library.</summary>
    private async Task Wait1Async(Waits w, int card, int n)
    {
        DmaBuf buffer = w.Buffers[0];
        uint handle = w.Handles[0];
        for (int i = 0; i < n; i++)
        {
            uint fence = _native.FenceAttach(card, handle);
#pragma warning disable CA2012 // awaited once, below: armed before the fence goes to the peer, as C arms before it hands over
            ValueTask ready = buffer.WaitReadyAsync(DmaBufAccess.Read);
#pragma warning restore CA2012
            _native.PeerSignal(new ReadOnlySpan<uint>(in fence));
            await ready.ConfigureAwait(false);
        }
    }

    /// <summary>wait-1k: every buffer fenced and awaited at once, the peer signalling in a random order; returns the mean
    /// time from the hand-over to the last completion.</summary>
    private async Task<double> Wait1kAsync(Waits w, int card, int rounds)
    {
        double last = 0;
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < w.Buffers.Length; i++)
            {
                w.Fences[i] = _native.FenceAttach(card, w.Handles[i]);
#pragma warning disable CA2012 // each awaited once, below
                w.Pending[i] = w.Buffers[i].WaitReadyAsync(DmaBufAccess.Read);
#pragma warning restore CA2012
            }

            for (int i = 0; i < w.Buffers.Length; i++)
            {
                w.Shuffled[i] = w.Fences[w.Order[i]];
            }

            long handed = Stopwatch.GetTimestamp();
            _native.PeerSignal(w.Shuffled);
            for (int i = 0; i < w.Pending.Length; i++)
            {
                await w.Pending[i].ConfigureAwait(false);
                w.Pending[i] = default;
            }

            last += Stopwatch.GetElapsedTime(handed).TotalNanoseconds;
        }

        return last / rounds;
    }

    private static int Fd(SafeHandle h) => (int)h.DangerousGetHandle();

    private static void Check(int actual, int expected)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"bench: expected {expected}, got {actual}");
        }
    }

    /// <summary>The wait group's buffers: vgem dumb buffers on card, each exported once, and a fixed random order.</summary>
    private sealed class Waits : IDisposable
    {
        private readonly DumbBuffer[] _dumbs;

        public Waits(DrmDevice card, int count)
        {
            _dumbs = new DumbBuffer[count];
            Buffers = new DmaBuf[count];
            Handles = new uint[count];
            Fds = new int[count];
            for (int i = 0; i < count; i++)
            {
                _dumbs[i] = card.CreateDumbBuffer(16, 16, 32);
                Buffers[i] = card.ExportDmaBuf(_dumbs[i].Handle);
                Handles[i] = _dumbs[i].Handle.Value;
                Fds[i] = Fd(Buffers[i]);
            }

            Order = [.. Enumerable.Range(0, count)];
            new Random(20261207).Shuffle(Order);
            Fences = new uint[count];
            Shuffled = new uint[count];
            Pending = new ValueTask[count];
        }

        public DmaBuf[] Buffers { get; }

        public uint[] Handles { get; }

        public int[] Fds { get; }

        /// <summary>The order the peer signals the buffers' fences in (a permutation).</summary>
        public int[] Order { get; }

        public uint[] Fences { get; }

        public uint[] Shuffled { get; }

        public ValueTask[] Pending { get; }

        public void Dispose()
        {
            foreach (DmaBuf b in Buffers)
            {
                b.Dispose();
            }

            foreach (DumbBuffer d in _dumbs)
            {
                d.Dispose();
            }
        }
    }

    private struct LaneState
    {
        public DrmDevice Render;
        public int Count;
    }
}
