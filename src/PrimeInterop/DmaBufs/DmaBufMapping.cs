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
    private readonly MappingHandle _memory; // with the holds of this mapping and of each open access scope

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
    // Asks the JIT to inline it even without profile data (NativeAOT, TieredPGO off): out of line it is a call that sets
    // up a P/Invoke frame of its own on every access (about 90 instructions, a tenth of the access, with TieredPGO=0).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DmaBufCpuAccess BeginAccess(DmaBufAccess access)
    {
        ValidateAccess(access);
        AccessScope scope = _memory.Begin(nameof(DmaBufMapping));

        // No try/catch here (the JIT does not inline a P/Invoke inside one): nothing between the hold and the return
        // can throw but the SYNC's own error, which ends the scope before it is thrown.
        int fd = _memory.DmaBufFd;
        int errno = DmaBufUapi.Sync(fd, DmaBufUapi.DMA_BUF_SYNC_START | (ulong)access);
        if (errno != 0)
        {
            _memory.End(scope);
            ThrowSyncError(errno, "START", fd);
        }

        return new DmaBufCpuAccess(_memory, fd, access, scope);
    }

    [DoesNotReturn]
    internal static void ThrowSyncError(int errno, string phase, int fd) =>
        ThrowHelper.Throw(errno, $"{nameof(DmaBufUapi.DMA_BUF_IOCTL_SYNC)}({phase})", "dma-buf", fd: fd);

    /// <summary>Unmaps the memory now, or, while an access scope is open, when the last one ends.</summary>
    public void Dispose() => _memory.DisposeOwner();

    // The per-frame path (BeginAccess and its Dispose) is kept to as few calls as it can be: the checks are inlined
    // and their throws are not (a method that throws is not inlined, and would cost a call on every frame).
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
}

/// <summary>
/// A CPU access scope on a <see cref="DmaBufMapping"/>: holds the mapping (the span cannot outlive the memory) and
/// ends the access with <c>DMA_BUF_SYNC_END</c> when disposed. A <c>ref struct</c> whose <see cref="Span"/> is tied to
/// the variable that holds the scope: returning the span out of the method that began the scope does not compile.
/// Copies of a scope are the same scope: the first Dispose of any copy ends it, once, and every copy's span then throws.
/// </summary>
public ref struct DmaBufCpuAccess
{
    private readonly MappingHandle? _memory; // null: default, never begun
    private readonly AccessScope _scope;
    private readonly int _fd;
    private readonly DmaBufAccess _access;

    internal DmaBufCpuAccess(MappingHandle memory, int fd, DmaBufAccess access, AccessScope scope)
    {
        _memory = memory;
        _fd = fd;
        _access = access;
        _scope = scope;
    }

    /// <summary>
    /// The mapped bytes, while the scope is open. It lives no longer than the variable that holds this scope (the
    /// compiler refuses to return it from the method); after the scope ended, through any copy, reading it throws.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The scope has ended (or this is <c>default</c>).</exception>
    public readonly Span<byte> Span
    {
        [UnscopedRef]
        get => _memory is { } memory && memory.IsOpen(_scope) ? memory.Span() : AccessScope.ThrowEnded(nameof(DmaBufCpuAccess));
    }

    /// <summary>
    /// Ends the access (<c>DMA_BUF_SYNC_END</c>, always sent) and releases the mapping; once, whichever copy of the
    /// scope is disposed first (later calls do nothing).
    /// </summary>
    /// <exception cref="DrmException">SYNC_END failed; the mapping is released all the same.</exception>
    public readonly void Dispose()
    {
        // Checked, then ended after SYNC_END (which needs the fd the scope holds): no other thread has a copy of a
        // ref struct, so nothing can end the scope in between.
        if (_memory is not { } memory || !memory.IsOpen(_scope))
        {
            return;
        }

        int errno = DmaBufUapi.Sync(_fd, DmaBufUapi.DMA_BUF_SYNC_END | (ulong)_access); // cannot throw
        memory.End(_scope); // released whether or not SYNC_END failed
        if (errno != 0)
        {
            DmaBufMapping.ThrowSyncError(errno, "END", _fd);
        }
    }
}
