using System.Runtime.InteropServices;

namespace PrimeInterop.Bench;

/// <summary>
/// native/prime-bench's C loops (libdrm), loaded in-process from libprime-bench.so and run on the same fds and
/// handles as the C# loops, so each path's C and C# times are taken back to back. Each returns ns per op.
/// </summary>
internal sealed unsafe class NativeLoops
{
    private readonly delegate* unmanaged<int, uint, long, double> _export;
    private readonly delegate* unmanaged<int, int, uint, long, double> _roundTrip;
    private readonly delegate* unmanaged<int, int, uint, long, double> _dupImport;
    private readonly delegate* unmanaged<int, long, double> _access;
    private readonly delegate* unmanaged<int, int*, int, long, double> _fdPass;
    private readonly delegate* unmanaged<int, int, uint, long, double> _roundTripLocked;
    private readonly delegate* unmanaged<int, int, uint, long, double> _dupImportLocked;
    private readonly delegate* unmanaged<int, void> _peerStart;
    private readonly delegate* unmanaged<uint*, int, void> _peerSignal;
    private readonly delegate* unmanaged<int, uint, uint> _fenceAttach;
    private readonly delegate* unmanaged<int, uint, int, long, double> _wait1;
    private readonly delegate* unmanaged<int, uint*, int*, int*, int, long, double*, double> _wait1k;
    private readonly delegate* unmanaged<double> _busy;
    private readonly delegate* unmanaged<int, uint*, int*, int, uint, uint, uint*, long, double*, double> _flip;

    public NativeLoops(string library)
    {
        nint lib = NativeLibrary.Load(library); // for the process's lifetime
        _export = (delegate* unmanaged<int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_export");
        _roundTrip = (delegate* unmanaged<int, int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_roundtrip");
        _dupImport = (delegate* unmanaged<int, int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_dup_import");
        _access = (delegate* unmanaged<int, long, double>)NativeLibrary.GetExport(lib, "pb_access");
        _fdPass = (delegate* unmanaged<int, int*, int, long, double>)NativeLibrary.GetExport(lib, "pb_fdpass");
        _roundTripLocked = (delegate* unmanaged<int, int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_roundtrip_locked");
        _dupImportLocked = (delegate* unmanaged<int, int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_dup_import_locked");
        _peerStart = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(lib, "pb_peer_start");
        _peerSignal = (delegate* unmanaged<uint*, int, void>)NativeLibrary.GetExport(lib, "pb_peer_signal");
        _fenceAttach = (delegate* unmanaged<int, uint, uint>)NativeLibrary.GetExport(lib, "pb_fence_attach");
        _wait1 = (delegate* unmanaged<int, uint, int, long, double>)NativeLibrary.GetExport(lib, "pb_wait_1");
        _wait1k = (delegate* unmanaged<int, uint*, int*, int*, int, long, double*, double>)NativeLibrary.GetExport(lib, "pb_wait_1k");
        _busy = (delegate* unmanaged<double>)NativeLibrary.GetExport(lib, "pb_busy_ns");
        _flip = (delegate* unmanaged<int, uint*, int*, int, uint, uint, uint*, long, double*, double>)NativeLibrary.GetExport(lib, "pb_flip");
    }

    public double Export(int card, uint handle, int n) => _export(card, handle, n);

    /// <summary>Into a file that does not hold the object: a fresh handle, closed at the end.</summary>
    public double RoundTrip(int card, int render, uint handle, int n) => _roundTrip(card, render, handle, n);

    /// <summary>render already holds <paramref name="held"/> for the dma-buf.</summary>
    public double DupImport(int render, int dmaBuf, uint held, int n) => _dupImport(render, dmaBuf, held, n);

    public double Access(int dmaBuf, int n) => _access(dmaBuf, n);

    /// <summary><see cref="RoundTrip"/> with the import and its release through a libdrm_amdgpu-style handle table (a mutex across FD_TO_HANDLE and the last GEM_CLOSE).</summary>
    public double RoundTripLocked(int card, int render, uint handle, int n) => _roundTripLocked(card, render, handle, n);

    /// <summary><see cref="DupImport"/> through that table.</summary>
    public double DupImportLocked(int render, int dmaBuf, uint held, int n) => _dupImportLocked(render, dmaBuf, held, n);

    /// <summary>Starts the signalling peer thread (once per process) for fences of vgem file <paramref name="card"/>.</summary>
    public void PeerStart(int card) => _peerStart(card);

    /// <summary>Hands fences to the peer, which signals them in this order (C and C# hand them over alike).</summary>
    public void PeerSignal(ReadOnlySpan<uint> fences)
    {
        fixed (uint* p = fences)
        {
            _peerSignal(p, fences.Length);
        }
    }

    /// <summary>A pending vgem write fence on <paramref name="handle"/>'s object; its id.</summary>
    public uint FenceAttach(int card, uint handle) => _fenceAttach(card, handle);

    /// <summary>wait-1 in C: fence, re-arm (EPOLL_CTL_MOD), hand-over, epoll_wait.</summary>
    public double Wait1(int card, uint handle, int dmaBuf, int n) => _wait1(card, handle, dmaBuf, n);

    /// <summary>wait-1k in C: ns per wait; <paramref name="last"/> the mean time from the hand-over to the last event.</summary>
    public double Wait1k(int card, ReadOnlySpan<uint> handles, ReadOnlySpan<int> dmaBufs, ReadOnlySpan<int> order, int rounds, out double last)
    {
        double l;
        fixed (uint* h = handles)
        fixed (int* d = dmaBufs, o = order)
        {
            double t = _wait1k(card, h, d, o, handles.Length, rounds, &l);
            last = l;
            return t;
        }
    }

    /// <summary>The CPU time of every process in the system so far, ns (the flip's clock: see pb_busy_ns).</summary>
    public double BusyNs() => _busy();

    /// <summary>
    /// flip in C: per frame wait-1 on buffer i % 2 (vgem <paramref name="handles"/>, <paramref name="dmaBufs"/>), its
    /// framebuffer committed to <paramref name="plane"/> (NONBLOCK|PAGE_FLIP_EVENT), poll and drmHandleEvent. Returns
    /// guest ns per frame; <paramref name="busy"/> the CPU time of every process per frame.
    /// </summary>
    public double Flip(int card, ReadOnlySpan<uint> handles, ReadOnlySpan<int> dmaBufs, int kms, uint plane, uint fbIdProperty, ReadOnlySpan<uint> framebuffers, int n, out double busy)
    {
        double b;
        fixed (uint* h = handles, f = framebuffers)
        fixed (int* d = dmaBufs)
        {
            double t = _flip(card, h, d, kms, plane, fbIdProperty, f, n, &b);
            busy = b;
            return t;
        }
    }

    /// <summary>To the echo peer at the other end of <paramref name="socket"/> and back.</summary>
    public double FdPass(int socket, ReadOnlySpan<int> fds, int n)
    {
        fixed (int* p = fds)
        {
            return _fdPass(socket, p, fds.Length, n);
        }
    }
}
