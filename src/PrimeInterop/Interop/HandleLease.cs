using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// The one way this library holds a SafeHandle while it uses the fd (or handle) behind it: a reference for the
/// span of one call, so a concurrent Dispose cannot close (and the kernel recycle) the fd under us. Every syscall
/// on an fd the library did not just create runs inside a lease. Throws ObjectDisposedException when the handle
/// is already closed. A child handle that needs its parent for its whole life takes that reference once, in its
/// constructor (<see cref="ChildSafeHandle"/>), not through a lease.
/// </summary>
internal readonly ref struct HandleLease
{
    private readonly SafeHandle? _handle;

    public HandleLease(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
    }

    /// <summary>The fd (or other value) of the leased handle; valid until <see cref="Dispose"/>.</summary>
    public int Fd => (int)_handle!.DangerousGetHandle();

    /// <summary>The raw value of the leased handle (an address, for a mapping).</summary>
    public IntPtr Value => _handle!.DangerousGetHandle();

    public void Dispose() => _handle?.DangerousRelease();
}

/// <summary>
/// Leases on several handles at once, all or none (the fds of one outgoing message). A class, so that it can live
/// across an await; <see cref="Dispose"/> releases once.
/// </summary>
internal sealed class HandleLeases : IDisposable
{
    private readonly SafeHandle[] _handles;
    private int _held;

    public HandleLeases(ReadOnlySpan<SafeHandle> handles)
    {
        _handles = handles.ToArray();
        Fds = new int[_handles.Length];
        AddRefAll(_handles, Fds);
        _held = _handles.Length;
    }

    /// <summary>The fds, in order; valid until <see cref="Dispose"/>.</summary>
    public int[] Fds { get; }

    /// <summary>
    /// References every handle of <paramref name="fds"/>, writing its fd to <paramref name="into"/>: all or none. A null
    /// or closed handle releases the ones before it and throws (ArgumentNullException, ObjectDisposedException).
    /// </summary>
    public static void AddRefAll(ReadOnlySpan<SafeHandle> fds, Span<int> into)
    {
        int held = 0;
        try
        {
            for (; held < fds.Length; held++)
            {
                SafeHandle h = fds[held] ?? throw new ArgumentNullException(nameof(fds), $"fd #{held} is null.");
                bool added = false;
                h.DangerousAddRef(ref added);
                into[held] = (int)h.DangerousGetHandle();
            }
        }
        catch
        {
            for (int i = 0; i < held; i++)
            {
                fds[i].DangerousRelease();
            }

            throw;
        }
    }

    public void Dispose()
    {
        int held = Interlocked.Exchange(ref _held, 0);
        for (int i = 0; i < held; i++)
        {
            _handles[i].DangerousRelease();
        }
    }
}
