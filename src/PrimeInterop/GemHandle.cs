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
/// fd, and no API that takes an fd (fd passing, <see cref="DrmDevice.ImportDmaBuf"/>) can be handed one.
/// </remarks>
public sealed class GemHandle : IDisposable
{
    private readonly Reference _reference;
    private volatile bool _disposed;

    /// <summary>Wraps one reference the device's handle table has already counted.</summary>
    internal GemHandle(DrmDevice device, GemHandleTable.Entry entry, SafeHandle deviceFile)
    {
        Device = device;
        Number = entry.Handle; // a copy: after the last release the entry may serve another object
        _reference = new Reference(device, entry, deviceFile);
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
    public bool IsDisposed => _reference.IsClosed || _disposed;

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
    public void Dispose()
    {
        _disposed = true;
        _reference.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"GEM handle {Number} on {Device.Path}{(IsDisposed ? " (disposed)" : "")}";

    /// <summary>
    /// Holds the reference for the duration of one call on the handle (ObjectDisposedException once disposed).
    /// The reference holds the device's file, so <see cref="DrmDevice.RawFd"/> is valid inside the lease.
    /// </summary>
    /// <remarks>
    /// Inlined into the export paths, so it has no catch (a method with one is not inlined): a disposed handle is
    /// refused by the flag, which Dispose sets before it releases; a Dispose racing with this call can still make the
    /// AddRef itself throw (also an ObjectDisposedException, with SafeHandle's message).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal HandleLease Lease()
    {
        if (_disposed)
        {
            ThrowDisposed();
        }

        return new HandleLease(_reference);
    }

    [DoesNotReturn]
    private void ThrowDisposed() => throw new ObjectDisposedException(ToString());

    /// <summary>The counted reference: a child of the device's file, released into the device's table.</summary>
    private sealed class Reference : ChildSafeHandle
    {
        private readonly DrmDevice _device;
        private readonly GemHandleTable.Entry _entry;

        public Reference(DrmDevice device, GemHandleTable.Entry entry, SafeHandle deviceFile)
            : base(deviceFile)
        {
            _device = device;
            _entry = entry;
            SetHandle(new IntPtr(entry.Handle));
        }

        protected override bool ReleaseChild() => _device.Release(_entry);
    }
}
