using System.Runtime.InteropServices;

namespace PrimeInterop;

/// <summary>
/// A SafeHandle that needs another one (its parent) for as long as it lives, with a <see cref="Hold"/> on it: a
/// framebuffer its DRM file, a dma-buf mapping its dma-buf (for <c>DMA_BUF_IOCTL_SYNC</c>), a property blob its DRM
/// file. The hold is taken when the child is made and ended in its own ReleaseHandle, after the child's resource is
/// released, as System.Net.Quic's MsQuicSafeHandle does.
/// </summary>
internal abstract class ChildSafeHandle : SafeHandle
{
    private Hold _parent;

    /// <summary>Holds the parent (ObjectDisposedException if it is closed). The derived constructor calls SetHandle
    /// afterwards, so a failure here leaves nothing to release.</summary>
    protected ChildSafeHandle(SafeHandle? parent)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        if (parent is not null)
        {
            _parent = Hold.On(parent);
        }
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The parent's fd, valid for the child's whole life.</summary>
    protected int ParentFd => _parent.ParentFd;

    protected sealed override bool ReleaseHandle()
    {
        try
        {
            return ReleaseChild();
        }
        finally
        {
            _parent.End();
        }
    }

    /// <summary>Releases the child's own resource; the parent is still held. Must not throw.</summary>
    protected abstract bool ReleaseChild();
}
