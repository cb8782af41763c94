using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// A SafeHandle that needs another one (its parent) for as long as it lives: a GEM handle reference needs its DRM
/// file, a framebuffer its DRM file, a dma-buf mapping its dma-buf (for <c>DMA_BUF_IOCTL_SYNC</c>). The child takes
/// its reference on the parent when it is created and drops it in its own ReleaseHandle, after releasing itself,
/// as System.Net.Quic's MsQuicSafeHandle does. Nothing outside the two classes pairs AddRef and Release.
/// </summary>
internal abstract class ChildSafeHandle : SafeHandle
{
    private readonly SafeHandle? _parent;
    private readonly int _parentFd; // read once: the parent's value cannot change while it is referenced

    /// <summary>Takes the parent reference (ObjectDisposedException if the parent is closed). The derived
    /// constructor calls SetHandle afterwards, so a failure here leaves nothing to release.</summary>
    protected ChildSafeHandle(SafeHandle? parent)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        if (parent is not null)
        {
            bool added = false;
            parent.DangerousAddRef(ref added);
            _parent = parent;
            _parentFd = (int)parent.DangerousGetHandle();
        }
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>The parent's raw value (an fd), valid for the child's whole life.</summary>
    protected int ParentFd => _parentFd;

    protected sealed override bool ReleaseHandle()
    {
        try
        {
            return ReleaseChild();
        }
        finally
        {
            _parent?.DangerousRelease();
        }
    }

    /// <summary>Releases the child's own resource; the parent is still referenced. Must not throw.</summary>
    protected abstract bool ReleaseChild();
}
