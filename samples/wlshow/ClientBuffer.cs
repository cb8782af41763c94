using PrimeInterop;

namespace WlShow;

/// <summary>
/// What a client draws into: a dumb buffer (XRGB8888) on the device the compositor renders with, mapped for the CPU,
/// and its <see cref="DmaBufDescription"/> (one plane, exported O_RDWR | O_CLOEXEC) to hand to the compositor.
/// </summary>
public sealed class ClientBuffer : IDisposable
{
    private readonly DumbBuffer _dumb;
    private readonly DumbBufferMapping _map;

    public ClientBuffer(DrmDevice card, uint width, uint height, ulong modifier = DmaBufDescription.InvalidModifier)
    {
        ArgumentNullException.ThrowIfNull(card);
        _dumb = card.CreateDumbBuffer(width, height, 32);
        try
        {
            _map = _dumb.Map();
            Description = new DmaBufDescription(width, height, DrmFourcc.Xrgb8888, modifier,
                [new DmaBufPlane(card.ExportDmaBuf(_dumb.Handle, DmaBufExportFlags.ReadWrite), 0, _dumb.Pitch)]);
        }
        catch
        {
            _map?.Dispose();
            _dumb.Dispose();
            throw;
        }
    }

    public DmaBufDescription Description { get; }

    /// <summary>Draws <see cref="TestImage"/> with <paramref name="seed"/>; only while the compositor does not hold the buffer.</summary>
    public void Fill(uint seed)
    {
        using var cpu = _map.BeginAccess();
        TestImage.Fill(cpu.Span, Description.Width, Description.Height, _dumb.Pitch, seed);
    }

    public void Dispose()
    {
        Description.Dispose();
        _map.Dispose();
        _dumb.Dispose();
    }
}
