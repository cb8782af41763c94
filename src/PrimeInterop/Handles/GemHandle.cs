using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// One reference to a GEM buffer object in one open DRM file. The kernel gives a file exactly one handle per
/// object and does not count its users, so <see cref="DrmDevice"/> keeps a table: every import or creation that
/// yields an object this file already has returns another <see cref="GemHandle"/> for the same handle number,
/// and <c>GEM_CLOSE</c> is issued once, when the last of them is disposed (or finalized).
/// The device's file stays open while any handle of it lives (the device's handle table holds it).
/// </summary>
/// <remarks>
/// Deliberately not a <see cref="SafeHandle"/>: a GEM handle is a number in a DRM file's own namespace, not an
/// fd, and no API that takes an fd (fd passing, <see cref="DrmDevice.ImportDmaBuf"/>) can be handed one. It keeps
/// a SafeHandle's lifetime rules itself, in one object: a call on the handle holds it (a lease) so a concurrent
/// Dispose cannot close it under the call; the release runs once, after Dispose (or the finalizer) and the last lease.
/// </remarks>
public sealed class GemHandle : IDisposable, IHoldable
{
    private Guard _guard; // armed (holding the count) from the constructor; after the release, the device's Released guard
    private HolderCount _holders; // this object's own hold and each call's lease

    /// <summary>
    /// Wraps one reference the device's handle table has already counted: it belongs to this object once the
    /// constructor returns (released once, in <see cref="Release"/>, or by the guard's finalizer if this handle is
    /// dropped undisposed). If it throws (out of memory), it is still the caller's.
    /// </summary>
    internal GemHandle(DrmDevice device, GemHandleTable.Entry entry)
    {
        Number = entry.Handle; // a copy: after the last release the entry may serve another object
        Guard guard = Guard.FromSpare(device, entry);
        guard.Armed = true;
        _guard = guard;
    }

    /// <summary>The device (open DRM file) whose handle namespace this handle lives in.</summary>
    public DrmDevice Device => _guard.Device;

    /// <summary>The kernel's handle number, valid only in <see cref="Device"/>'s file while this reference lives.</summary>
    /// <exception cref="ObjectDisposedException">This reference was disposed: the number may already name another object.</exception>
    public uint Value
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return Number;
        }
    }

    /// <summary>True once this reference was disposed (or is being released).</summary>
    public bool IsDisposed => _holders.IsDisposed;

    /// <summary>
    /// How many live <see cref="GemHandle"/> references this file holds on the object right now. Internal: the leak
    /// checks of the tests and the soak read it; for a caller the number is stale as soon as another thread imports
    /// or disposes, and nothing should depend on it (dispose each reference; the last one closes the handle).
    /// </summary>
    internal int ReferenceCount => IsDisposed ? 0 : Device.ReferenceCountOf(Number);

    /// <summary>The handle number, for the library's own calls made inside a <see cref="Lease"/>.</summary>
    internal uint Number { get; }

    /// <summary>True when both refer to the same buffer object through the same open file.</summary>
    /// <remarks>
    /// Public because callers need it: a compositor or a cache that imports every dma-buf a client sends learns here
    /// whether a new import is a buffer it already holds (the kernel answers a re-sent dma-buf with the same handle),
    /// without comparing raw <see cref="Value"/>s, which are only meaningful while both references live and only
    /// within one open file. Both conditions are checked here.
    /// </remarks>
    public bool RefersToSameObject(GemHandle other)
    {
        ArgumentNullException.ThrowIfNull(other);

        // While both live, the number is open in the file and cannot have been recycled: equal numbers, one object.
        return ReferenceEquals(Device, other.Device) && Number == other.Number && !IsDisposed && !other.IsDisposed;
    }

    /// <summary>Drops this reference; the last reference to the object closes its kernel handle.</summary>
    /// <remarks>A call running on this handle on another thread finishes first: the release waits for its lease.</remarks>
    public void Dispose()
    {
        if (_holders.Dispose())
        {
            Release(); // no lease held: release now; otherwise the last lease does
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"GEM handle {Number} on {Device.Path}{(IsDisposed ? " (disposed)" : "")}";

    /// <summary>
    /// Holds this handle for the duration of one call on it (ObjectDisposedException once disposed): the kernel handle
    /// is not closed, and the device's file (which the handle holds) stays open, so <see cref="DrmDevice.RawFd"/> is
    /// valid inside the lease.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // the export paths: one compare-exchange, no call
    internal Lease<GemHandle> Lease() => new(this);

    ref HolderCount IHoldable.Holders => ref _holders;

    void IHoldable.Release() => Release(); // disposed while a call held it

    [DoesNotReturn]
    void IHoldable.ThrowDisposed() => ThrowDisposed();

    /// <summary>Drops the table's count (the last closes the kernel handle); runs exactly once.</summary>
    private void Release()
    {
        Guard guard = _guard;
        _guard = guard.Device.ReleasedGuard; // the same Device, and no reference left to a guard that another handle re-arms
        guard.ReleaseContents();
        Guard.ToSpare(guard);
    }

    [DoesNotReturn]
    private void ThrowDisposed() => throw new ObjectDisposedException(ToString());

    /// <summary>
    /// What a handle releases (its count on its table entry), in a guard that releases it if the handle is dropped
    /// without being disposed. A guard serves one entry for life, whichever object the entry serves, and waits in the
    /// entry's spare slot between handles: an import that finds the entry (a per-frame re-import above all) reuses it
    /// with one exchange and arms it with a flag, so only the handle's reference to it is stored. A released handle
    /// points to its device's <see cref="Released"/> guard instead (its <see cref="Device"/> is read through either),
    /// so that no disposed handle keeps a guard reachable that a later handle arms: that handle's finalizer would wait
    /// for the disposed one.
    /// </summary>
    internal sealed class Guard(DrmDevice device, GemHandleTable.Entry? entry) : ReleaseGuard
    {
        private readonly GemHandleTable.Entry? _entry = entry; // null only in a device's Released guard

        public DrmDevice Device { get; } = device;

        public bool Armed; // holds a count on the entry

        /// <summary>The entry's spare guard, or a new one (which may throw OutOfMemoryException, owning nothing).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Guard FromSpare(DrmDevice device, GemHandleTable.Entry entry) =>
            Interlocked.Exchange(ref entry.SpareGuard, null) ?? new Guard(device, entry);

        /// <summary>Keeps an emptied guard for its entry's next handle; one that loses a race to the slot is garbage (empty).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void ToSpare(Guard guard) => guard._entry!.SpareGuard ??= guard;

        /// <summary>The guard every released handle of <paramref name="device"/> points to: never armed (its finalizer finds nothing).</summary>
        public static Guard Released(DrmDevice device) => new(device, entry: null);

        public override void ReleaseContents()
        {
            if (Armed)
            {
                Armed = false;
                Device.ReleaseEntry(_entry!);
            }
        }
    }
}
