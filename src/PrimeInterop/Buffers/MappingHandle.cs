using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// An mmap'ed range, unmapped exactly once, when the last hold goes: its mapping's Dispose and every open access scope
/// each hold it (<see cref="ScopeHolders"/>), so an open scope's span never points at unmapped memory; a mapping
/// dropped with no scope open is unmapped by this handle's finalizer. Holds its parent (the dma-buf whose fd
/// <c>DMA_BUF_IOCTL_SYNC</c> needs) until then.
/// </summary>
internal sealed class MappingHandle : ChildSafeHandle
{
    /// <summary>The largest range a mapping may have: a <see cref="Span{T}"/> addresses at most int.MaxValue bytes.</summary>
    public const long MaxLength = int.MaxValue;

    private readonly nuint _length;
    private ScopeHolders _holders;

    /// <summary>Takes over the range at <paramref name="address"/>, already mapped, at most <see cref="MaxLength"/> bytes.</summary>
    public MappingHandle(IntPtr address, long length, SafeHandle? parent)
        : base(parent)
    {
        _length = (nuint)length;
        SetHandle(address);
    }

    /// <summary>The fd of the parent dma-buf (valid while this mapping is).</summary>
    public int DmaBufFd => ParentFd;

    /// <summary>The mapped bytes. Call only inside an open scope (which keeps the range mapped), and keep the span no
    /// longer than the scope: the access scopes hold both.</summary>
    public Span<byte> Span() => Libc.Mapped(handle, (int)_length);

    /// <summary>Opens an access scope, which holds the range mapped; ObjectDisposedException (naming <paramref name="owner"/>) once the mapping is disposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public AccessScope Begin(string owner) => _holders.Begin(owner);

    /// <inheritdoc cref="ScopeHolders.IsOpen"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsOpen(in AccessScope scope) => _holders.IsOpen(scope);

    /// <summary>
    /// Ends <paramref name="scope"/>, which <see cref="IsOpen"/> has just found open on this thread (see
    /// <see cref="ScopeHolders.End"/>); the last hold after the mapping's Dispose unmaps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void End(in AccessScope scope)
    {
        if (_holders.End(scope))
        {
            Dispose();
        }
    }

    /// <summary>The mapping's Dispose: unmaps now, or, while a scope is open, when the last one ends.</summary>
    public void DisposeOwner()
    {
        if (_holders.Dispose())
        {
            Dispose();
        }
    }

    protected override bool ReleaseChild() => Libc.Munmap(handle, _length) == 0;
}
