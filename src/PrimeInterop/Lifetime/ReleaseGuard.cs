namespace PrimeInterop;

/// <summary>
/// The finalizer of an object that has none itself: a <see cref="GemHandle"/> or a <see cref="ReceivedFds"/> keeps
/// what it must release (a handle reference, received fds) in a guard, which releases it if the owner is dropped
/// without being disposed. An owner's Dispose releases the contents itself and returns the empty guard to a spare
/// slot (a GemHandle's: its table entry's; a ReceivedFds': its thread's), and the next owner reuses it: registering a
/// new object for finalization costs a per-frame import or receive more than all the rest it allocates, and a guard
/// that is reused is registered once. A guard is reachable only from its one owner or from a spare slot, so its
/// finalizer runs only for an owner that is gone, or (empty, doing nothing) for a guard no slot kept. A thread's slot
/// is a non-generic [ThreadStatic] field: the JIT inlines the access to those, not to a generic type's.
/// </summary>
internal abstract class ReleaseGuard
{
    ~ReleaseGuard() => ReleaseContents();

    /// <summary>
    /// Releases whatever the guard still holds and leaves it empty: called by the owner's release, or by the
    /// finalizer. Must not throw.
    /// </summary>
    public abstract void ReleaseContents();
}
