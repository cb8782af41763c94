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

    public NativeLoops(string library)
    {
        nint lib = NativeLibrary.Load(library); // for the process's lifetime
        _export = (delegate* unmanaged<int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_export");
        _roundTrip = (delegate* unmanaged<int, int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_roundtrip");
        _dupImport = (delegate* unmanaged<int, int, uint, long, double>)NativeLibrary.GetExport(lib, "pb_dup_import");
        _access = (delegate* unmanaged<int, long, double>)NativeLibrary.GetExport(lib, "pb_access");
        _fdPass = (delegate* unmanaged<int, int*, int, long, double>)NativeLibrary.GetExport(lib, "pb_fdpass");
    }

    public double Export(int card, uint handle, int n) => _export(card, handle, n);

    /// <summary>Into a file that does not hold the object: a fresh handle, closed at the end.</summary>
    public double RoundTrip(int card, int render, uint handle, int n) => _roundTrip(card, render, handle, n);

    /// <summary>render already holds <paramref name="held"/> for the dma-buf.</summary>
    public double DupImport(int render, int dmaBuf, uint held, int n) => _dupImport(render, dmaBuf, held, n);

    public double Access(int dmaBuf, int n) => _access(dmaBuf, n);

    /// <summary>To the echo peer at the other end of <paramref name="socket"/> and back.</summary>
    public double FdPass(int socket, ReadOnlySpan<int> fds, int n)
    {
        fixed (int* p = fds)
        {
            return _fdPass(socket, p, fds.Length, n);
        }
    }
}
