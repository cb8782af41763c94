using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// An mmap'ed range, unmapped exactly once: on Dispose, or by the finalizer if the user forgot. Optionally holds a
/// reference on the SafeHandle whose fd the mapping needs for its lifetime (a dma-buf, for DMA_BUF_IOCTL_SYNC).
/// </summary>
internal sealed class MappingHandle : SafeHandle
{
    private readonly nuint _length;
    private readonly SafeHandle? _owner;

    /// <summary>Takes over the range at <paramref name="address"/>; <paramref name="owner"/>, if any, was already
    /// DangerousAddRef'ed by the caller and is released with the mapping.</summary>
    public MappingHandle(IntPtr address, long length, SafeHandle? owner)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        _length = (nuint)length;
        _owner = owner;
        SetHandle(address);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    public unsafe Span<byte> Span(object user)
    {
        ObjectDisposedException.ThrowIf(IsClosed, user);
        return new Span<byte>((void*)handle, checked((int)_length));
    }

    protected override bool ReleaseHandle()
    {
        bool ok = Libc.Munmap(handle, _length) == 0;
        _owner?.DangerousRelease();
        return ok;
    }
}
