using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// A reference on a SafeHandle for the span of one call, so a concurrent Dispose cannot close (and the kernel
/// recycle) its fd under us. Throws ObjectDisposedException when the handle is already disposed.
/// </summary>
internal readonly ref struct HandleLease
{
    private readonly SafeHandle _handle;

    public HandleLease(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
    }

    public int Fd => (int)_handle.DangerousGetHandle();

    public void Dispose() => _handle.DangerousRelease();
}
