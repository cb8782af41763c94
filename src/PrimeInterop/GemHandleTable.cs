using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The handle table of one open DRM file: one entry per buffer object this file holds a handle for, with the count
/// of live references to it (each <see cref="GemHandle"/>, and each open scope of the zero-allocation lane).
/// <para>
/// The kernel gives a file one handle per object and does not count its users: <c>PRIME_FD_TO_HANDLE</c> of an
/// object the file already holds returns the same number, and one <c>GEM_CLOSE</c> closes it for everyone. So the
/// rules, all under one lock:
/// </para>
/// <list type="bullet">
/// <item>A kernel call that yields a handle (import, dumb create) and the count of that handle happen under the
/// lock, so a concurrent last release cannot close the handle between the kernel returning it and the table
/// counting it (the kernel would hand out a number that is already gone, or a recycled one).</item>
/// <item>The last release removes the entry and issues <c>GEM_CLOSE</c> (or <c>MODE_DESTROY_DUMB</c>) under the
/// lock, so no import can return that number until it is really closed.</item>
/// </list>
/// <para>
/// A release that is not the last takes no lock: every reference holds its <see cref="Entry"/>, and the count goes
/// down with a compare-exchange while it is above 1; only the locked path takes it from 1 to 0 (and imports raise it
/// only under the lock), so the rules above still hold. A duplicate import thus takes the lock once, for the kernel
/// call, and finds its entry once. Entries of closed handles are reused, so importing, counting and releasing
/// allocate nothing once the table has held as many objects at a time as it does now.
/// The kernel calls are made inline, with no delegate. Callers hold a reference on the device's fd for every counted
/// reference and for the span of each call.
/// </para>
/// </summary>
internal sealed class GemHandleTable
{
    /// <summary>Handles below this number are found by index; a file with more handles at once than this is rare.</summary>
    internal const int DefaultMaxSlots = 1 << 16;

    private readonly Lock _lock = new();
    private readonly Stack<Entry> _free = new(); // entries of closed handles, for reuse
    private readonly int _maxSlots;

    // The kernel numbers a file's handles from 1 and gives out the lowest free number (idr), so they stay dense: an
    // array indexed by the number finds an entry in one bounds check, where a dictionary took a hash and a probe on
    // every import and last release (about 140 instructions of a lane round trip in the rig). Numbers at or above
    // _maxSlots (a file holding that many handles at once) are kept in _far instead, so no number can make the array
    // huge. Every entry with a number below _maxSlots is in _slots, below its length.
    private Entry?[] _slots;
    private Dictionary<uint, Entry>? _far;
    private int _count;
    private Entry? _spare; // taken before a kernel call (see Reserve)
    private int _freeCapacity; // room known to be in _free: growing it is one comparison until full

    public GemHandleTable()
        : this(DefaultMaxSlots)
    {
    }

    /// <summary>A table whose array holds numbers below <paramref name="maxSlots"/> (tests lower it to reach the dictionary).</summary>
    internal GemHandleTable(int maxSlots)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSlots, 2);
        _maxSlots = maxSlots;
        _slots = new Entry?[Math.Min(64, maxSlots)];
    }

    /// <summary>How many distinct objects are in the table.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>The live references to <paramref name="handle"/>; 0 when it is not in the table.</summary>
    public int ReferencesOf(uint handle)
    {
        lock (_lock)
        {
            return Find(handle) is Entry e ? Volatile.Read(ref e.References) : 0;
        }
    }

    /// <summary><c>PRIME_FD_TO_HANDLE</c> and one more reference on the handle it yields. Returns 0 or the errno.</summary>
    public int ImportEntry(int deviceFd, int dmaBufFd, out Entry? entry)
    {
        lock (_lock)
        {
            Reserve();
            int errno = DrmPrime.FdToHandle(deviceFd, dmaBufFd, out uint handle);
            entry = errno == 0 ? AddReference(deviceFd, handle, isDumb: false) : null;
            return errno;
        }
    }

    /// <summary><see cref="ImportEntry"/> by handle number (the tests' view).</summary>
    public int Import(int deviceFd, int dmaBufFd, out uint handle)
    {
        int errno = ImportEntry(deviceFd, dmaBufFd, out Entry? entry);
        handle = entry?.Handle ?? 0;
        return errno;
    }

    /// <summary><c>MODE_CREATE_DUMB</c> and the first reference on its handle. Returns 0 or the errno.</summary>
    public int CreateDumb(int deviceFd, ref DrmModeDumb.drm_mode_create_dumb arg, out Entry? entry)
    {
        lock (_lock)
        {
            Reserve();
            int errno = DrmModeDumb.Create(deviceFd, ref arg);
            entry = errno == 0 ? AddReference(deviceFd, arg.handle, isDumb: true) : null;
            return errno;
        }
    }

    /// <summary>One more reference on a handle the file holds already (a GemHandle's, or one adopted from elsewhere).</summary>
    public Entry Adopt(uint handle)
    {
        lock (_lock)
        {
            Reserve();
            return AddReference(deviceFd: -1, handle, isDumb: false);
        }
    }

    /// <summary>
    /// Drops one reference; the last one closes the kernel handle, under the lock. Returns 0, or the errno of that
    /// close (the entry is gone either way: the kernel closes or has already closed the handle). Each reference is
    /// released exactly once (a GemHandle's by its SafeHandle, a scope's in its finally): after the last release its
    /// entry may serve another object.
    /// </summary>
    public int Release(int deviceFd, Entry entry)
    {
        // Not the last reference: no lock. Above 1 the count cannot reach 0 here, and only the locked path below
        // takes it from 1 to 0, so no import can find the handle closing.
        for (int n = Volatile.Read(ref entry.References); n > 1;)
        {
            int seen = Interlocked.CompareExchange(ref entry.References, n - 1, n);
            if (seen == n)
            {
                return 0;
            }

            n = seen;
        }

        lock (_lock)
        {
            return ReleaseLocked(deviceFd, entry);
        }
    }

    /// <summary><see cref="Release(int, Entry)"/> by handle number (the tests' view), refusing a handle with no references.</summary>
    public int Release(int deviceFd, uint handle)
    {
        lock (_lock)
        {
            Entry? e = Find(handle);
            if (e is null || Volatile.Read(ref e.References) <= 0)
            {
                ThrowOverReleased(handle);
            }

            return ReleaseLocked(deviceFd, e);
        }
    }

    private int ReleaseLocked(int deviceFd, Entry e)
    {
        int left = Interlocked.Decrement(ref e.References);
        if (left > 0)
        {
            return 0; // an import counted one more since the caller looked
        }

        if (left < 0)
        {
            Interlocked.Increment(ref e.References);
            ThrowOverReleased(e.Handle);
        }

        if (_free.Count == _freeCapacity)
        {
            _freeCapacity = _free.EnsureCapacity(_free.Count + 1); // the push below must not fail (out of memory) after the close
        }

        Remove(e.Handle);
        int errno = e.IsDumb ? DrmModeDumb.Destroy(deviceFd, e.Handle) : Drm.GemClose(deviceFd, e.Handle);
        _free.Push(e);
        return errno;
    }

    // Cold: the lane inlines the release into the caller's scope, where an interpolated string's handler would be
    // zeroed in the prolog on every call.
    [DoesNotReturn]
    private static void ThrowOverReleased(uint handle) =>
        throw new InvalidOperationException($"GEM handle {handle} released more often than it was acquired.");

    private Entry? Find(uint handle) => handle < (uint)_slots.Length ? _slots[handle] : _far?.GetValueOrDefault(handle);

    private void Remove(uint handle)
    {
        if (handle < (uint)_slots.Length)
        {
            _slots[handle] = null;
        }
        else
        {
            _far!.Remove(handle);
        }

        _count--;
    }

    /// <summary>
    /// Makes sure an entry and room for its number are at hand for a new object; under the lock, before the kernel
    /// call, so that nothing can fail to allocate once the kernel has given a handle (it would leak in the kernel).
    /// The next number the kernel gives is at most one above the handles the file holds; if the file holds handles
    /// the table does not know of (made through <see cref="DrmDevice.FileHandle"/>), <see cref="AddUnreserved"/>
    /// makes the room after the call, and closes the new handle again should that fail.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Reserve()
    {
        _spare ??= _free.TryPop(out Entry? free) ? free : new Entry();
        if (_count + 2 > _slots.Length)
        {
            ReserveNumber();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReserveNumber()
    {
        if (_slots.Length < _maxSlots)
        {
            Grow(_count + 2);
        }

        if (_count + 2 > _slots.Length)
        {
            _far ??= [];
            _far.EnsureCapacity(_far.Count + 1);
        }
    }

    /// <summary>Makes the array hold numbers below <paramref name="length"/> (at most <see cref="_maxSlots"/>).</summary>
    private void Grow(int length)
    {
        int grown = (int)Math.Min((uint)_maxSlots, Math.Max(BitOperations.RoundUpToPowerOf2((uint)length), (uint)_slots.Length * 2));
        Entry?[] slots = new Entry?[grown];
        _slots.CopyTo(slots, 0);
        _slots = slots;
    }

    /// <summary>One more reference on <paramref name="handle"/>, which the kernel has just given (or a caller adopts).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Entry AddReference(int deviceFd, uint handle, bool isDumb)
    {
        Entry?[] slots = _slots;
        if (handle >= (uint)slots.Length)
        {
            return AddUnreserved(deviceFd, handle, isDumb);
        }

        ref Entry? e = ref slots[handle];
        e ??= NewEntry(handle, isDumb);
        Interlocked.Increment(ref e.References);
        return e;
    }

    /// <summary>
    /// <see cref="AddReference"/> of a number beyond the array: the array grows to hold it, or it goes to the
    /// dictionary. That allocates after the kernel call; if it fails, the kernel's new handle is closed again
    /// (<paramref name="deviceFd"/> -1: an adopted handle, which stays the caller's).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Entry AddUnreserved(int deviceFd, uint handle, bool isDumb)
    {
        try
        {
            if (handle < (uint)_maxSlots)
            {
                Grow((int)handle + 1);
            }
            else
            {
                _far ??= [];
                _far.EnsureCapacity(_far.Count + 1); // the add below then allocates nothing
            }
        }
        catch (OutOfMemoryException) when (deviceFd >= 0)
        {
            // Only a number new to the table gets here (one beyond the array is in no entry; one in the dictionary
            // needs no room), so no reference of anyone else's is closed.
            _ = isDumb ? DrmModeDumb.Destroy(deviceFd, handle) : Drm.GemClose(deviceFd, handle);
            throw;
        }

        ref Entry? e = ref handle < (uint)_slots.Length
            ? ref _slots[handle]
            : ref CollectionsMarshal.GetValueRefOrAddDefault(_far!, handle, out _);
        e ??= NewEntry(handle, isDumb);
        Interlocked.Increment(ref e.References);
        return e;
    }

    private Entry NewEntry(uint handle, bool isDumb)
    {
        Entry e = _spare!;
        _spare = null;
        e.Handle = handle;
        e.IsDumb = isDumb;
        _count++;
        return e;
    }

    /// <summary>One object this file holds a handle for: its number and its count of live references.</summary>
    internal sealed class Entry
    {
        public int References; // changed only with Interlocked; from 1 to 0 only under the table's lock
        public uint Handle;
        public bool IsDumb;
    }
}
