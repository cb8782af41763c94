using System.Runtime.CompilerServices;
using PrimeInterop;
using Wayland.Wire;

namespace PrimeComp;

/// <summary>
/// A client's dma-buf <c>wl_buffer</c>: its planes imported into the card once, when the buffer was created, and its
/// framebuffer, both kept until the buffer is gone from the client and from the screen. Surfaces hold it while it is
/// committed or scanned out (<see cref="Hold"/>/<see cref="Drop"/>); when the last holder drops it, the client gets
/// <c>wl_buffer.release</c>, and once the client has destroyed it too, the framebuffer, the GEM handles and the
/// dma-buf fds are closed.
/// </summary>
internal sealed class ClientBuffer : WlBuffer.IRequests
{
    private readonly DmaBufDescription _description;
    private readonly ImportedBuffer _imported;
    private int _holders;
    private bool _disposed;

    public ClientBuffer(WaylandResource resource, DmaBufDescription description, ImportedBuffer imported, Framebuffer framebuffer, bool yInvert)
    {
        Resource = resource;
        _description = description;
        _imported = imported;
        Framebuffer = framebuffer;
        YInvert = yInvert;
        resource.Data = this;
        resource.Destroyed += _ => DisposeIfUnused();
        WlBuffer.Implement(resource, this);
    }

    public WaylandResource Resource { get; }

    public Framebuffer Framebuffer { get; }

    public DmaBufDescription Description => _description;

    public uint Width => _description.Width;

    public uint Height => _description.Height;

    /// <summary>The client drew it upside down (linux-dmabuf's y_invert): scanned out with the plane's REFLECT_Y.</summary>
    public bool YInvert { get; }

    public bool IsDisposed => _disposed;

    /// <summary>Raised once the buffer's framebuffer and imports are closed.</summary>
    public event Action<ClientBuffer>? Disposed;

    public ClientBuffer Hold()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _holders++;
        return this;
    }

    /// <summary>Drops a hold; the last one releases the buffer to the client (or closes it, when the client destroyed it).</summary>
    public void Drop()
    {
        if (--_holders > 0)
        {
            return;
        }

        if (!Resource.IsDestroyed)
        {
            WlBuffer.SendRelease(Resource);
        }

        DisposeIfUnused();
    }

    /// <summary>Completes when the client's rendering into the buffer is done (its implicit fences, polled through the library).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))] // per frame: a pooled state machine, not a new one
    public async ValueTask WaitReadyAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<DmaBufPlane> planes = _description.Planes;
        for (int i = 0; i < planes.Count; i++)
        {
            if (i == 0 || planes[i].Buffer != planes[i - 1].Buffer)
            {
                await planes[i].Buffer.WaitReadyAsync(DmaBufAccess.Read, cancellationToken);
            }
        }
    }

    public override string ToString() => $"{Resource} ({Width}x{Height} {_description.Format}, {Framebuffer})";

    private void DisposeIfUnused()
    {
        if (_disposed || _holders > 0 || !Resource.IsDestroyed)
        {
            return;
        }

        _disposed = true;
        Framebuffer.Dispose(); // RMFB first: the buffer is on no plane any more
        _imported.Dispose();
        _description.Dispose();
        Disposed?.Invoke(this);
    }
}
