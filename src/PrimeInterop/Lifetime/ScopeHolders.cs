using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The identity of one CPU-access scope, shared by every copy of it: an access scope is a <c>ref struct</c>, so
/// <c>var b = a;</c> copies it, and ending it must release its hold once, whichever copy ends it, while every copy sees
/// that it has ended. The usual scope, the only one open on its mapping, is the mapping's kept scope, named by a
/// serial in <see cref="ScopeHolders"/> (nothing allocated); a scope opened while another is open has a cell of its own.
/// </summary>
internal readonly struct AccessScope
{
    internal AccessScope(uint serial) => Serial = serial;

    internal AccessScope(ScopeCell cell) => Cell = cell;

    /// <summary>The kept scope's serial.</summary>
    internal uint Serial { get; }

    /// <summary>The cell of a scope opened beside another; null for the kept scope (a scope that was never begun has no mapping to ask).</summary>
    internal ScopeCell? Cell { get; }

    /// <summary>What reading an ended scope's memory throws.</summary>
    [DoesNotReturn]
    public static Span<byte> ThrowEnded(string scope) =>
        throw new ObjectDisposedException(scope, "This CPU access scope has ended (a copy of it was disposed, or it was never begun); its span is gone with it.");
}

/// <summary>
/// Whether a scope opened beside another has ended. A ref struct never leaves the thread that made it, so the flag
/// is read and written by that thread alone.
/// </summary>
internal sealed class ScopeCell
{
    public bool Ended { get; set; }
}

/// <summary>
/// A mapping's holds (its own, dropped by Dispose, and one per open access scope) and which scope is its kept one, in
/// one 64-bit state, so that beginning and ending a scope each cost the one atomic operation the hold alone costs (the
/// per-frame path). Bit 0: disposed; bit 1: the kept scope is open; bits 2-31: the scopes' holds; bits 32-63: the
/// serial of the kept scope, which its end moves on, so that no copy of it matches again. The memory is released by
/// whoever ends the last hold after Dispose. The serial wraps: a copy disposed again after 2^32 further scopes on
/// the same mapping (held all that time by a live stack frame) would be taken for the scope then open.
/// </summary>
internal struct ScopeHolders
{
    private const long Disposed = 1, KeptOpen = 2, OneHold = 4, OneSerial = 1L << 32, Low = 0xFFFF_FFFF;

    private long _state;

    /// <summary>Opens a scope, holding the memory; ObjectDisposedException (naming <paramref name="owner"/>) once disposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public AccessScope Begin(string owner)
    {
        for (long state = Volatile.Read(ref _state); (state & (Disposed | KeptOpen)) == 0;)
        {
            long seen = Interlocked.CompareExchange(ref _state, state + (OneHold | KeptOpen), state);
            if (seen == state)
            {
                return new AccessScope((uint)(state >>> 32));
            }

            state = seen;
        }

        return BeginBeside(owner); // disposed, or the kept scope is open
    }

    /// <summary>A scope opened while the kept one is open: a hold and a cell of its own.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private AccessScope BeginBeside(string owner)
    {
        var cell = new ScopeCell(); // first: the one step that can fail for want of memory, while nothing is held
        for (long state = Volatile.Read(ref _state); (state & Disposed) == 0;)
        {
            long seen = Interlocked.CompareExchange(ref _state, state + OneHold, state);
            if (seen == state)
            {
                return new AccessScope(cell);
            }

            state = seen;
        }

        throw new ObjectDisposedException(owner, "The mapping has been disposed.");
    }

    /// <summary>True until any copy of <paramref name="scope"/> has ended it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool IsOpen(in AccessScope scope) =>
        scope.Cell is not { } cell ? (uint)(Volatile.Read(in _state) >>> 32) == scope.Serial : !cell.Ended;

    /// <summary>
    /// Ends <paramref name="scope"/> and its hold. Only for a scope <see cref="IsOpen"/> has just found open on this
    /// thread: no other thread holds a copy of a ref struct, so nothing can end it in between, and while the kept scope
    /// is open its bit and serial are its own (no other scope changes them). True when that was the last hold after
    /// Dispose: the caller releases the memory now.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool End(in AccessScope scope)
    {
        if (scope.Cell is { } cell)
        {
            return EndBeside(cell);
        }

        // One atomic add: the hold and the kept bit off, the serial on (wrapping in its 32 bits).
        return (Interlocked.Add(ref _state, unchecked(OneSerial - OneHold - KeptOpen)) & Low) == Disposed;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool EndBeside(ScopeCell cell)
    {
        cell.Ended = true;
        return (Interlocked.Add(ref _state, -OneHold) & Low) == Disposed;
    }

    /// <summary>Drops the owner's hold, once; true when no scope holds the memory: the caller releases it now.</summary>
    public bool Dispose()
    {
        for (long state = Volatile.Read(ref _state); (state & Disposed) == 0;)
        {
            long seen = Interlocked.CompareExchange(ref _state, state | Disposed, state);
            if (seen == state)
            {
                return ((state | Disposed) & Low) == Disposed;
            }

            state = seen;
        }

        return false;
    }
}
