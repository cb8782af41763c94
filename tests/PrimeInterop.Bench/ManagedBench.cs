using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace PrimeInterop.Bench;

/// <summary>The C# side of every path, on devices and buffers set up once (the 10,000 live handles included).</summary>
internal sealed class ManagedBench : IDisposable
{
    private const int ScaleHandles = 10_000;

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
    private readonly byte[] _payload = new byte[8];

    public ManagedBench(string native)
    {
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

    /// <summary>ns per op and managed bytes allocated per op, for every path.</summary>
    /// <param name="n">Ops per path.</param>
    /// <param name="rawFdPassFirst">Whether the raw fd-passing loop goes before the library's this round: two processes
    /// ping-ponging on the guest's two CPUs are sensitive to what ran just before, so the order alternates too.</param>
    public (Dictionary<string, double> Ns, Dictionary<string, double> Alloc) Run(int n, bool rawFdPassFirst = false)
    {
        var ns = new Dictionary<string, double>();
        var alloc = new Dictionary<string, double>();
        int messages = Math.Max(1, n / 4);
        int card = (int)_card.FileHandle.DangerousGetHandle(), render = (int)_render.FileHandle.DangerousGetHandle();
        int held = (int)_held.DangerousGetHandle();
        uint handle = _dumb.Handle.Value;

        // Round trips import an object render does not hold: a fresh handle, and GEM_CLOSE at the end, as in C.
        Measure(Paths.Export, n, Export);
        Measure(Paths.RoundTrip, n, RoundTrip);
        Measure(Paths.LaneExport, n, LaneExport);
        Measure(Paths.LaneRoundTrip, n, LaneRoundTrip);
        Measure(Paths.FloorExport, n, k => Floor.Export(card, handle, k));
        Measure(Paths.FloorRoundTrip, n, k => Floor.RoundTrip(card, render, handle, k));
        var table = new Floor.Table();
        SafeHandle gem = _card.FileHandle; // stands in for the GemHandle's reference: one SafeHandle's AddRef/Release
        Measure(Paths.RulesExport, n, k => Floor.RulesExport(gem, card, handle, k));
        Measure(Paths.RulesRoundTrip, n, k => Floor.RulesRoundTrip(table, gem, card, _render.FileHandle, handle, k));
        Measure(Paths.RulesLaneExport, n, k => Floor.RulesLaneExport(gem, card, handle, k));
        Measure(Paths.RulesLaneRoundTrip, n, k => Floor.RulesLaneRoundTrip(table, gem, card, _render.FileHandle, handle, k));
        Measure(Paths.Scale, n, Scale);
        Measure(Paths.Access, n, Access);
        Measure(Paths.RulesAccess, n, k => Floor.RulesAccess(_held, held, k));
        for (int pass = 0; pass < 2; pass++)
        {
            if ((pass == 0) == rawFdPassFirst)
            {
                Measure(Paths.FloorFdPass1, messages, k => Floor.FdPass(Fd(_peer.SafeHandle), _passedFds.AsSpan(0, 1), k));
                Measure(Paths.FloorFdPass4, messages, k => Floor.FdPass(Fd(_peer.SafeHandle), _passedFds.AsSpan(0, 4), k));
            }
            else
            {
                Measure(Paths.FdPass1, messages, k => FdPass(k, 1));
                Measure(Paths.FdPass4, messages, k => FdPass(k, 4));
            }
        }

        // Duplicate imports: render holds the object meanwhile (C imports it once before its loop, too).
        using (GemHandle heldImport = _render.ImportDmaBuf(_held))
        {
            Measure(Paths.DupImport, n, DupImport);
            Measure(Paths.LaneDupImport, n, LaneDupImport);
            Measure(Paths.FloorDupImport, n, k => Floor.DupImport(render, held, k));

            // The held import is in the library's table, not this one: count it here too, so no release is the last.
            uint heldHandle = heldImport.Value;
            table.Import(render, held);
            Measure(Paths.RulesDupImport, n, k => Floor.RulesDupImport(table, _render.FileHandle, _held, k));
            Measure(Paths.RulesLaneDupImport, n, k => Floor.RulesLaneDupImport(table, _render.FileHandle, _held, k));
            table.Forget(heldHandle); // no GEM_CLOSE: the library's heldImport still holds the handle
        }

        if (_render.OpenObjectCount != 0)
        {
            throw new InvalidOperationException("bench: render still holds handles after a run");
        }
        alloc[Paths.Send] = SendAllocation(Math.Min(messages, 100));
        return (ns, alloc);

        void Measure(string path, int count, Action<int> body)
        {
            long a0 = GC.GetAllocatedBytesForCurrentThread();
            long t0 = Stopwatch.GetTimestamp();
            body(count);
            double elapsed = Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
            long a1 = GC.GetAllocatedBytesForCurrentThread();
            ns[path] = elapsed / count;
            alloc[path] = (a1 - a0) / (double)count;
        }
    }

    public void Dispose()
    {
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

    private void DupImport(int n)
    {
        for (int i = 0; i < n; i++)
        {
            using GemHandle again = _render.ImportDmaBuf(_held);
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

    private void LaneDupImport(int n)
    {
        var state = new LaneState { Render = _render };
        for (int i = 0; i < n; i++)
        {
            _render.ImportScoped(_held, ref state, static (scoped BorrowedGemHandle h, ref LaneState s) => s.Count++);
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

    private static int Fd(SafeHandle h) => (int)h.DangerousGetHandle();

    private static void Check(int actual, int expected)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"bench: expected {expected}, got {actual}");
        }
    }

    private struct LaneState
    {
        public DrmDevice Render;
        public int Count;
    }
}
