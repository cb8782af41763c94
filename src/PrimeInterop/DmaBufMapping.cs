using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A CPU mapping of a dma-buf. The memory may only be touched inside a <see cref="BeginAccess"/> scope, which
/// brackets it with <c>DMA_BUF_IOCTL_SYNC</c> START and END so caches and fences are handled. Unmapped on dispose.
/// </summary>
public sealed class DmaBufMapping : IDisposable
{
    private readonly int _fd; // valid while _memory is: it holds a reference on the dma-buf
    private readonly MappingHandle _memory;

    internal DmaBufMapping(DmaBuf buffer, IntPtr address, long length)
    {
        bool added = false;
        buffer.DangerousAddRef(ref added); // SYNC needs the fd for as long as the mapping lives; MappingHandle drops it
        _fd = (int)buffer.DangerousGetHandle();
        _memory = new MappingHandle(address, length, buffer);
        Length = length;
    }

    /// <summary>The mapped length in bytes.</summary>
    public long Length { get; }

    /// <summary>
    /// Starts CPU access (<c>DMA_BUF_SYNC_START</c> with the READ/WRITE bits of <paramref name="access"/>); the
    /// returned scope's <c>Dispose</c> ends it with the same bits.
    /// </summary>
    public DmaBufCpuAccess BeginAccess(DmaBufAccess access)
    {
        ValidateAccess(access);
        ObjectDisposedException.ThrowIf(_memory.IsClosed, this);
        Sync(DmaBufUapi.DMA_BUF_SYNC_START | (ulong)access);
        return new DmaBufCpuAccess(this, access);
    }

    /// <summary>Unmaps the memory (the finalizer does it too, if this is never disposed).</summary>
    public void Dispose() => _memory.Dispose();

    internal static void ValidateAccess(DmaBufAccess access)
    {
        if (access is not (DmaBufAccess.Read or DmaBufAccess.Write or DmaBufAccess.ReadWrite))
        {
            throw new ArgumentOutOfRangeException(nameof(access), access, "Access must be Read, Write or ReadWrite.");
        }
    }

    internal Span<byte> Span => _memory.Span(this);

    internal void Sync(ulong flags)
    {
        using var mapped = new HandleLease(_memory); // ObjectDisposedException once unmapped; else _fd is open
        ThrowHelper.ThrowIfError(DmaBufUapi.Sync(_fd, flags), "DMA_BUF_IOCTL_SYNC", "dma-buf", fd: _fd);
    }
}

/// <summary>A CPU access scope on a <see cref="DmaBufMapping"/>; dispose it to end the access.</summary>
public ref struct DmaBufCpuAccess
{
    private DmaBufMapping? _mapping;
    private readonly DmaBufAccess _access;

    internal DmaBufCpuAccess(DmaBufMapping mapping, DmaBufAccess access)
    {
        _mapping = mapping;
        _access = access;
        Span = mapping.Span;
    }

    /// <summary>The mapped bytes; valid until this scope is disposed.</summary>
    public Span<byte> Span { get; private set; }

    /// <summary>Ends the access (<c>DMA_BUF_SYNC_END</c>).</summary>
    public void Dispose()
    {
        if (_mapping is { } m)
        {
            _mapping = null;
            Span = default;
            m.Sync(DmaBufUapi.DMA_BUF_SYNC_END | (ulong)_access);
        }
    }
}
