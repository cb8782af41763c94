using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
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
    private HolderCount _holders; // this mapping's own hold and each open access scope's: the memory stays mapped while any is held

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
        if (!_holders.TryHold())
        {
            ThrowDisposed();
        }

        // No try/catch here (the JIT does not inline a P/Invoke inside one): nothing between the lease and the
        // return can throw but the SYNC's own error, which releases the lease before it is thrown.
        int fd = _memory.DmaBufFd;
        int errno = DmaBufUapi.Sync(fd, DmaBufUapi.DMA_BUF_SYNC_START | (ulong)access);
        if (errno != 0)
        {
            EndHold();
            ThrowSyncError(errno, "START", fd);
        }

        return new DmaBufCpuAccess(this, fd, access, _memory.Span());
    }

    [DoesNotReturn]
    internal static void ThrowSyncError(int errno, string phase, int fd) =>
        ThrowHelper.Throw(errno, $"{nameof(DmaBufUapi.DMA_BUF_IOCTL_SYNC)}({phase})", "dma-buf", fd: fd);

    /// <summary>Unmaps the memory now, or, while an access scope is open, when the last one ends.</summary>
    public void Dispose()
    {
        if (_holders.Dispose())
        {
            _memory.Dispose(); // no scope holds it: unmap now; otherwise the last scope's end does
        }
    }

    // The per-frame path (BeginAccess and its Dispose) is kept to as few calls as it can be: under the rig's emulator
    // every call and return costs as much as a dozen instructions, so the checks are inlined and their throws are not.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ValidateAccess(DmaBufAccess access)
    {
        if ((uint)access - 1 > 2) // Read = 1, Write = 2, ReadWrite = 3
        {
            ThrowBadAccess(access);
        }
    }

    [DoesNotReturn]
    private static void ThrowBadAccess(DmaBufAccess access) =>
        throw new ArgumentOutOfRangeException(nameof(access), access, "Access must be Read, Write or ReadWrite.");

    /// <summary>
    /// The mapping's reference for one scope. Disposed mappings are refused by the flag, which Dispose sets before it
    /// closes the handle; a Dispose racing with this call can still make the AddRef itself throw (also an
    /// ObjectDisposedException, with SafeHandle's message).
    /// </summary>
    /// <summary>Ends an access scope's hold; the last one after Dispose unmaps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void EndHold()
    {
        if (_holders.EndHold())
        {
            _memory.Dispose();
        }
    }

    [DoesNotReturn]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(DmaBufMapping), "The dma-buf mapping has been disposed.");
}

/// <summary>
/// A CPU access scope on a <see cref="DmaBufMapping"/>: holds the mapping (the span cannot outlive the memory) and
/// ends the access with <c>DMA_BUF_SYNC_END</c> when disposed. A <c>ref struct</c>, so the span cannot escape it.
/// </summary>
public ref struct DmaBufCpuAccess
{
    private readonly DmaBufAccess _access;
    private readonly int _fd;
    private DmaBufMapping? _mapping; // null once ended

    internal DmaBufCpuAccess(DmaBufMapping mapping, int fd, DmaBufAccess access, Span<byte> span)
    {
        _mapping = mapping;
        _fd = fd;
        _access = access;
        Span = span;
    }

    /// <summary>The mapped bytes; valid until this scope is disposed.</summary>
    public Span<byte> Span { get; private set; }

    /// <summary>Ends the access (<c>DMA_BUF_SYNC_END</c>, always sent) and releases the mapping.</summary>
    /// <exception cref="DrmException">SYNC_END failed; the mapping is released all the same.</exception>
    public void Dispose()
    {
        if (_mapping is not { } mapping)
        {
            return;
        }

        _mapping = null;
        Span = default;
        int errno = DmaBufUapi.Sync(_fd, DmaBufUapi.DMA_BUF_SYNC_END | (ulong)_access); // cannot throw
        mapping.EndHold(); // released whether or not SYNC_END failed
        if (errno != 0)
        {
            DmaBufMapping.ThrowSyncError(errno, "END", _fd);
        }
    }
}
