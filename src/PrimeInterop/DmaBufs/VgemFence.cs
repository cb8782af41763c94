using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A real, unsignalled fence from vgem (<c>DRM_IOCTL_VGEM_FENCE_ATTACH</c>) on a buffer's reservation object, signalled
/// by <see cref="Signal"/> (<c>DRM_IOCTL_VGEM_FENCE_SIGNAL</c>): a stand-in for a GPU job that is still writing or
/// reading the buffer, for testing fence-aware code (waits, <see cref="DmaBuf.ExportSyncFile"/>, compositor logic)
/// on machines without a GPU. The buffer may come from anywhere: import a udmabuf or heap buffer into vgem and the
/// fence lands in that dma-buf's reservation object. vgem signals a fence itself after 10 seconds.
/// </summary>
public sealed class VgemFence : IDisposable
{
    private readonly GemHandle _handle;
    private int _done;

    private VgemFence(GemHandle handle, uint id, DmaBufAccess access)
    {
        _handle = handle;
        Id = id;
        Access = access;
    }

    /// <summary>vgem's id of the fence in the handle's open file.</summary>
    public uint Id { get; }

    /// <summary><see cref="DmaBufAccess.Write"/> for a write (exclusive) fence, <see cref="DmaBufAccess.Read"/> for a read fence.</summary>
    public DmaBufAccess Access { get; }

    /// <summary>
    /// Attaches a fence to the object behind <paramref name="handle"/>, which must live in a vgem device. A write
    /// fence holds back readers and writers; a read fence holds back writers only. Keep the handle alive until the
    /// fence is signalled: the fence's id lives in the handle's open file.
    /// </summary>
    /// <param name="handle">A handle in a vgem device (created there or imported).</param>
    /// <param name="access"><see cref="DmaBufAccess.Write"/> or <see cref="DmaBufAccess.Read"/>.</param>
    /// <exception cref="DrmException">EBUSY when a conflicting fence is pending (vgem refuses to queue behind one).</exception>
    public static VgemFence Attach(GemHandle handle, DmaBufAccess access)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (access is not (DmaBufAccess.Read or DmaBufAccess.Write))
        {
            throw new ArgumentOutOfRangeException(nameof(access), access, "A vgem fence is a Read or a Write fence.");
        }

        using var lease = handle.Lease(); // ObjectDisposedException once disposed; the device's fd is open inside
        int errno = Vgem.AttachFence(handle.Device.RawFd, handle.Value, access == DmaBufAccess.Write, out uint id);
        ThrowHelper.ThrowIfError(errno, nameof(Vgem.DRM_IOCTL_VGEM_FENCE_ATTACH), handle.Device.Path, gemHandle: handle.Value, hint: errno switch
        {
            Errno.EBUSY => "vgem attaches no fence while a conflicting one is pending (any fence blocks a write fence; a write fence blocks a read fence)",
            Errno.EINVAL or Errno.ENOTTY => "the handle must live in a vgem device",
            _ => null,
        });
        return new VgemFence(handle, id, access);
    }

    /// <summary>Signals the fence: waiters on the buffer go on.</summary>
    /// <exception cref="DrmException">ETIMEDOUT when vgem's 10-second timeout signalled it first.</exception>
    /// <exception cref="ObjectDisposedException">The handle was disposed first (vgem's timeout will signal the fence).</exception>
    public void Signal()
    {
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            throw new InvalidOperationException($"vgem fence {Id} was already signalled.");
        }

        using var lease = _handle.Lease();
        int errno = Vgem.SignalFence(_handle.Device.RawFd, Id);
        ThrowHelper.ThrowIfError(errno, nameof(Vgem.DRM_IOCTL_VGEM_FENCE_SIGNAL), _handle.Device.Path, gemHandle: _handle.Value,
            hint: errno == Errno.ETIMEDOUT ? "vgem's 10-second timeout had signalled the fence already" : null);
    }

    /// <summary>Signals the fence if it is still pending and its handle is still alive.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _done, 1) == 0 && !_handle.IsDisposed)
        {
            try
            {
                using var lease = _handle.Lease();
                Vgem.SignalFence(_handle.Device.RawFd, Id);
            }
            catch (ObjectDisposedException)
            {
                // disposed in between: vgem's timeout signals the fence
            }
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"vgem {Access} fence {Id} on {_handle}";
}
