using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A CPU mapping of a dma-buf. The memory is reached only through a <see cref="BeginAccess"/> scope, which
/// brackets it with <c>DMA_BUF_IOCTL_SYNC</c> START and END so caches and fences are handled, and which holds the
/// mapping while it is open: disposing (or finalizing) the mapping with a scope still open unmaps it only when that
/// scope ends, after its SYNC_END. Unmapped on dispose, or by the finalizer if it is never disposed.
/// </summary>
public sealed class DmaBufMapping : IDisposable
{
    private readonly MappingHandle _memory;
    private volatile bool _disposed; // the handle itself stays open while a scope holds it

    internal DmaBufMapping(DmaBuf buffer, IntPtr address, long length)
    {
        _memory = new MappingHandle(address, length, buffer); // holds the dma-buf: SYNC needs its fd
        Length = length;
    }

    /// <summary>The mapped length in bytes (at most int.MaxValue: a span's limit).</summary>
    public long Length { get; }

    /// <summary>
    /// Starts CPU access (<c>DMA_BUF_SYNC_START</c> with the READ/WRITE bits of <paramref name="access"/>); the
    /// returned scope's <c>Dispose</c> ends it with the same bits. Always <c>using</c> the scope: it holds the
    /// mapping (its span stays valid) until it is disposed.
    /// </summary>
    public DmaBufCpuAccess BeginAccess(DmaBufAccess access)
    {
        ValidateAccess(access);
        var lease = Lease();
        try
        {
            int fd = _memory.DmaBufFd;
            ThrowHelper.ThrowIfError(DmaBufUapi.Sync(fd, DmaBufUapi.DMA_BUF_SYNC_START | (ulong)access), $"{nameof(DmaBufUapi.DMA_BUF_IOCTL_SYNC)}(START)", "dma-buf", fd: fd);
            return new DmaBufCpuAccess(lease, fd, access, _memory.Span());
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    /// <summary>Unmaps the memory now, or, while an access scope is open, when the last one ends.</summary>
    public void Dispose()
    {
        _disposed = true;
        _memory.Dispose();
    }

    internal static void ValidateAccess(DmaBufAccess access)
    {
        if (access is not (DmaBufAccess.Read or DmaBufAccess.Write or DmaBufAccess.ReadWrite))
        {
            throw new ArgumentOutOfRangeException(nameof(access), access, "Access must be Read, Write or ReadWrite.");
        }
    }

    private HandleLease Lease()
    {
        if (!_disposed)
        {
            try
            {
                return new HandleLease(_memory);
            }
            catch (ObjectDisposedException)
            {
            }
        }

        throw new ObjectDisposedException(nameof(DmaBufMapping), "The dma-buf mapping has been disposed.");
    }
}

/// <summary>
/// A CPU access scope on a <see cref="DmaBufMapping"/>: holds the mapping (the span cannot outlive the memory) and
/// ends the access with <c>DMA_BUF_SYNC_END</c> when disposed. A <c>ref struct</c>, so the span cannot escape it.
/// </summary>
public ref struct DmaBufCpuAccess
{
    private readonly DmaBufAccess _access;
    private readonly int _fd;
    private HandleLease _lease;
    private bool _open;

    internal DmaBufCpuAccess(HandleLease lease, int fd, DmaBufAccess access, Span<byte> span)
    {
        _lease = lease;
        _fd = fd;
        _access = access;
        _open = true;
        Span = span;
    }

    /// <summary>The mapped bytes; valid until this scope is disposed.</summary>
    public Span<byte> Span { get; private set; }

    /// <summary>Ends the access (<c>DMA_BUF_SYNC_END</c>, always sent) and releases the mapping.</summary>
    /// <exception cref="DrmException">SYNC_END failed; the mapping is released all the same.</exception>
    public void Dispose()
    {
        if (!_open)
        {
            return;
        }

        _open = false;
        Span = default;
        try
        {
            ThrowHelper.ThrowIfError(DmaBufUapi.Sync(_fd, DmaBufUapi.DMA_BUF_SYNC_END | (ulong)_access), $"{nameof(DmaBufUapi.DMA_BUF_IOCTL_SYNC)}(END)", "dma-buf", fd: _fd);
        }
        finally
        {
            _lease.Dispose();
            _lease = default;
        }
    }
}
