using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// An mmap'ed range, unmapped exactly once, when the last reference goes: its owner's Dispose (or finalizer) and
/// every open access scope each hold one, so an open scope's span never points at unmapped memory. Holds its
/// parent (the dma-buf whose fd <c>DMA_BUF_IOCTL_SYNC</c> needs) until then.
/// </summary>
internal sealed unsafe class MappingHandle : ChildSafeHandle
{
    /// <summary>The largest range a mapping may have: a <see cref="Span{T}"/> addresses at most int.MaxValue bytes.</summary>
    public const long MaxLength = int.MaxValue;

    private readonly nuint _length;

    /// <summary>Takes over the range at <paramref name="address"/>, already mapped, at most <see cref="MaxLength"/> bytes.</summary>
    public MappingHandle(IntPtr address, long length, SafeHandle? parent)
        : base(parent)
    {
        _length = (nuint)length;
        SetHandle(address);
    }

    /// <summary>The fd of the parent dma-buf (valid while this mapping is).</summary>
    public int DmaBufFd => ParentFd;

    /// <summary>The mapped bytes. Call only while holding a lease on this handle (which keeps the range mapped),
    /// and keep the span no longer than the lease: the access scopes hold both.</summary>
    public Span<byte> Span() => new((void*)handle, (int)_length);

    protected override bool ReleaseChild() => Libc.Munmap(handle, _length) == 0;
}
