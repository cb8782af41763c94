namespace PrimeInterop.Interop;

/// <summary>
/// The finalizer of an object that has none itself: a <see cref="GemHandle"/> or a <see cref="ReceivedFds"/> keeps
/// what it must release (a handle reference, received fds) in a guard, which releases it if the owner is dropped
/// without being disposed. An owner's Dispose releases the contents itself and returns the empty guard, which the
/// next owner on that thread reuses: registering a new object for finalization costs a per-frame import or receive
/// more than all the rest it allocates (~750 instructions under the rig's icount clock, issue 8), and a guard that
/// is reused is registered once. A guard is reachable only from its one owner or from its thread's spare slot, so
/// its finalizer runs only for an owner that is gone, or (empty, doing nothing) for a guard no thread kept.
/// </summary>
internal abstract class ReleaseGuard<TSelf>
    where TSelf : ReleaseGuard<TSelf>, new()
{
    [ThreadStatic]
    private static TSelf? t_spare;

    ~ReleaseGuard() => ReleaseContents();

    /// <summary>This thread's spare guard, or a new one (which may throw OutOfMemoryException, owning nothing).</summary>
    public static TSelf Rent()
    {
        TSelf guard = t_spare ?? new TSelf();
        t_spare = null;
        return guard;
    }

    /// <summary>Keeps <paramref name="guard"/>, whose contents were released, for this thread's next owner.</summary>
    public static void Return(TSelf guard) => t_spare ??= guard;

    /// <summary>Releases whatever the guard still holds and leaves it empty. Must not throw (it runs as a finalizer).</summary>
    protected abstract void ReleaseContents();
}
