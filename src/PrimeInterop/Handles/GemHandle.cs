using System.Diagnostics;
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
/// A handle holds a reference on its device's fd, so the fd stays open until the last handle is gone.
/// </summary>
/// <remarks>
/// Deliberately not a <see cref="SafeHandle"/>: a GEM handle is a number in a DRM file's own namespace, not an
/// fd, and no API that takes an fd (fd passing, <see cref="DrmDevice.ImportDmaBuf"/>) can be handed one. It keeps
/// a SafeHandle's lifetime rules itself, in one object: a call on the handle holds it (a lease) so a concurrent
/// Dispose cannot close it under the call; the release runs once, after Dispose (or the finalizer) and the last lease.
/// </remarks>
public sealed class GemHandle : IDisposable, IHoldable
{
    private Guard? _guard; // the counted reference and the file's; null once released
    private HolderCount _holders; // this object's own hold and each call's lease

    /// <summary>
    /// Wraps one reference the device's handle table has already counted, and a hold on the device's file that the
    /// caller has already taken: both belong to this object once the constructor returns (released once, in
    /// <see cref="Release"/>, or by the guard's finalizer if this handle is dropped undisposed). If it throws (out of
    /// memory), they are still the caller's.
    /// </summary>
    internal GemHandle(DrmDevice device, in Hold file, GemHandleTable.Entry entry)
    {
        Debug.Assert(file.Holds(device), "a handle's hold is on its own device's file");
        Device = device;
        Number = entry.Handle; // a copy: after the last release the entry may serve another object
        Guard guard = Guard.FromSpare(device);
        guard.Entry = entry; // the guard's device is the hold's parent for the guard's life: only the count moves
        _guard = guard;
    }

    /// <summary>The device (open DRM file) whose handle namespace this handle lives in.</summary>
    public DrmDevice Device { get; }

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

    /// <summary>Drops the table's count (the last closes the kernel handle) and the file; runs exactly once.</summary>
    private void Release()
    {
        Guard guard = _guard!;
        _guard = null;
        guard.ReleaseContents();
        Guard.ToSpare(guard);
    }

    [DoesNotReturn]
    private void ThrowDisposed() => throw new ObjectDisposedException(ToString());

    /// <summary>
    /// What a handle releases (its table entry's count, then its hold on the device's file), in a guard that releases
    /// it if the handle is dropped without being disposed. A guard serves one device for life and waits in the
    /// device's spare slot between handles: a per-frame import on that device reuses it with one exchange.
    /// </summary>
    private sealed class Guard(DrmDevice device) : ReleaseGuard
    {
        private readonly DrmDevice _device = device;

        public GemHandleTable.Entry? Entry; // null when empty; else the guard holds its device's file too

        /// <summary>The device's spare guard, or a new one (which may throw OutOfMemoryException, owning nothing).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Guard FromSpare(DrmDevice device) => (Guard?)Interlocked.Exchange(ref device.SpareGuard, null) ?? new Guard(device);

        /// <summary>Keeps an emptied guard for the device's next handle; one that loses a race to the slot is garbage (empty).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void ToSpare(Guard guard) => guard._device.SpareGuard ??= guard;

        public override void ReleaseContents()
        {
            if (Entry is { } entry)
            {
                Entry = null;
                _device.ReleaseEntry(entry);
                PrimeInterop.Lease.End(_device); // the hold the handle was made with (DrmDevice is sealed: a direct call)
            }
        }
    }
}
