using System.Runtime.CompilerServices;

namespace PrimeInterop;

/// <summary>
/// The count behind an <see cref="IHoldable"/>: SafeHandle's lifetime scheme, for an object that is not a SafeHandle
/// (a <see cref="GemHandle"/>, a <see cref="DrmDevice"/>'s file, a <see cref="ReceivedFds"/>): the owner's own hold,
/// the leases and holds in progress, and a Disposed bit, in one int. Dispose refuses new holds at once; the release
/// runs exactly once, when the last hold ends (the owner's, dropped by Dispose, or another's). Inlined, so a lease is
/// one compare-exchange and its end one atomic add, where a SafeHandle's reference costs two calls with their own
/// loops. A mutable struct: keep it in a non-readonly field and call it in place.
/// </summary>
internal struct HolderCount
{
    // 2 x (the calls' holds), minus 1 once disposed (which is the owner's hold dropped): odd means disposed, and -1
    // means disposed with no hold left. 0, the default, is the owner's hold alone.
    private const int OneHolder = 2, Released = -1;

    private int _state;

    /// <summary>True once Dispose ran (the release may still wait for a call's hold).</summary>
    public bool IsDisposed => (Volatile.Read(ref _state) & 1) != 0;

    /// <summary>One more hold; false (nothing held) once disposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryHold()
    {
        for (int state = Volatile.Read(ref _state); (state & 1) == 0;)
        {
            int seen = Interlocked.CompareExchange(ref _state, state + OneHolder, state);
            if (seen == state)
            {
                return true;
            }

            state = seen;
        }

        return false;
    }

    /// <summary>One more hold, disposed or not: only for a caller that holds already (so the release cannot have run).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddHold() => Interlocked.Add(ref _state, OneHolder);

    /// <summary>Ends a hold; true when it was the last after Dispose: the caller releases now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool EndHold() => Interlocked.Add(ref _state, -OneHolder) == Released;

    /// <summary>Drops the owner's hold, once, so that no new hold is given; true when no call holds: the caller releases now.</summary>
    public bool Dispose()
    {
        for (int state = Volatile.Read(ref _state); (state & 1) == 0;)
        {
            int seen = Interlocked.CompareExchange(ref _state, state - 1, state);
            if (seen == state)
            {
                return state - 1 == Released;
            }

            state = seen;
        }

        return false;
    }
}
