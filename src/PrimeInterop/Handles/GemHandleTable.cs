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
/// down with a compare-exchange while it is above 1; only the locked path takes it from 1 to 0, so no release but the
/// last can close a handle. Entries of closed handles are reused, so importing, counting and releasing allocate
/// nothing once the table has held as many objects at a time as it does now. The kernel calls are made inline, with
/// no delegate. The table holds its device's file while it holds any handle (taken with the first entry, ended after
/// the last close), so a counted reference needs no hold of its own; callers lease the file for each kernel call.
/// </para>
/// <para>
/// An import of an object the table holds already (a duplicate import) takes no lock either. It reads
/// <see cref="_closes"/>, the count of handles the table has closed, calls <c>PRIME_FD_TO_HANDLE</c>, finds the
/// entry of the number the kernel gave and raises its count with a compare-exchange while it is above 0, and then
/// reads <see cref="_closes"/> again. Unchanged, no handle was closed between the kernel's answer and the count, so the
/// number still names the object the kernel meant (every close is counted under the lock after <c>GEM_CLOSE</c>
/// returns and before any import can give the number out again, which needs the lock). Changed, the count is given
/// back and the import is done again under the lock. Counting the close before <c>GEM_CLOSE</c> instead would not do:
/// an import could read the count between the two, get the old number from the kernel before the close, and find it
/// counted again for a new object after it, with nothing changed in between. An object new to the table goes on under
/// the lock with the number already in hand when no handle was closed since the call, so a first import still makes
/// one kernel call.
/// </para>
/// </summary>
internal sealed class GemHandleTable
{
    /// <summary>Handles below this number are found by index; a file with more handles at once than this is rare.</summary>
    internal const int DefaultMaxSlots = 1 << 16;

    private static long s_generation; // the last Entry.Generation given out, by any table: one number names one entry's one object

    private readonly Lock _lock = new();
    private readonly Stack<Entry> _free = new(); // entries of closed handles, for reuse
    private readonly int _maxSlots;

    // The kernel numbers a file's handles from 1 and gives out the lowest free number (idr), so they stay dense: an
    // array indexed by the number finds an entry in one bounds check, where a dictionary would take a hash and a probe
    // on every import and last release. Numbers at or above
    // _maxSlots (a file holding that many handles at once) are kept in _far instead, so no number can make the array
    // huge. Every entry with a number below _maxSlots is in _slots, below its length.
    private Entry?[] _slots;
    private Dictionary<uint, Entry>? _far;
    private int _count;
    private Entry? _spare; // taken before a kernel call (see Reserve)
    private int _entries; // Entry objects made; _free has room for them all (see NewSpare)
    private long _closes; // handles this table has closed; raised under the lock after each close (see the summary)
    private readonly IHoldable? _owner; // the device whose file the handles live in (null: a test's table)
    private Hold _ownerHold; // on _owner, while _count > 0

    public GemHandleTable()
        : this(DefaultMaxSlots)
    {
    }

    /// <summary>The table of <paramref name="owner"/>'s file, which it holds while it holds any handle.</summary>
    internal GemHandleTable(IHoldable owner)
        : this(DefaultMaxSlots)
    {
        _owner = owner;
    }

    /// <summary>A table whose array holds numbers below <paramref name="maxSlots"/> (tests lower it to reach the dictionary).</summary>
    internal GemHandleTable(int maxSlots)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSlots, 2);
        _maxSlots = maxSlots;
        _slots = new Entry?[Math.Min(64, maxSlots)];
    }

    /// <summary>The lock that imports and last releases take (the tests hold it to show what need not wait for it).</summary>
    internal Lock Lock => _lock;

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
    /// <remarks>The caller holds the dma-buf's fd open for the call, or checks that it was not closed since (see
    /// <see cref="DrmDevice"/>'s imports): a number closed and reused under the call may import another buffer.</remarks>
    public int ImportEntry(int deviceFd, int dmaBufFd, out Entry? entry)
    {
        Imported imported = Import(deviceFd, dmaBufFd);
        entry = imported.Entry;
        return imported.Errno;
    }

    /// <summary><see cref="ImportEntry"/> with its results returned in registers, not through memory (the per-frame imports).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Imported Import(int deviceFd, int dmaBufFd)
    {
        long closes = Volatile.Read(ref _closes);
        int errno = DrmPrime.FdToHandle(deviceFd, dmaBufFd, out uint handle);
        if (errno != 0)
        {
            return new Imported(null, errno); // a failed call makes no handle
        }

        return TryShare(deviceFd, handle, closes) is { } shared ? new Imported(shared, 0) : ImportLocked(deviceFd, dmaBufFd, handle, closes);
    }

    /// <summary>
    /// One more reference on <paramref name="entry"/>, an entry this table gave out with <paramref name="generation"/>,
    /// if it is still that entry and alive: no kernel call (a <see cref="DmaBuf"/> imported again on the device that
    /// holds it). False when it is not (another table's, released, or serving another object since).
    /// </summary>
    public bool TryReuse(int deviceFd, Entry entry, long generation)
    {
        if (!ReferenceEquals(entry.Table, this) || Volatile.Read(ref entry.Generation) != generation || !TryAddReference(entry))
        {
            return false;
        }

        if (Volatile.Read(ref entry.Generation) == generation)
        {
            return true; // counted while it was that object's: it cannot be closed or reused until released
        }

        Release(deviceFd, entry); // the entry serves another object now: the count just taken is given back
        return false;
    }

    /// <summary>The lock-free duplicate import (see the summary): the entry counted once more, or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Entry? TryShare(int deviceFd, uint handle, long closes)
    {
        Entry?[] slots = Volatile.Read(ref _slots);
        if (handle >= (uint)slots.Length || Volatile.Read(ref slots[handle]) is not Entry e || !TryAddReference(e))
        {
            return null;
        }

        if (Volatile.Read(ref _closes) == closes)
        {
            return e; // its number: an entry serves another number only after a close (see the summary)
        }

        _ = Release(deviceFd, e); // a handle was closed meanwhile: maybe this number's, and the entry another object's now
        return null;
    }

    /// <summary>The count of <paramref name="e"/> raised while it is above 0 (the entry is alive).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryAddReference(Entry e)
    {
        for (int n = Volatile.Read(ref e.References); n > 0;)
        {
            int seen = Interlocked.CompareExchange(ref e.References, n + 1, n);
            if (seen == n)
            {
                return true;
            }

            n = seen;
        }

        return false;
    }

    /// <summary>
    /// The import of <paramref name="handle"/> under the lock: counted as it is when no handle was closed since the
    /// kernel gave it, else asked of the kernel again.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Imported ImportLocked(int deviceFd, int dmaBufFd, uint handle, long closes)
    {
        lock (_lock)
        {
            if (_closes != closes)
            {
                return ImportAgainLocked(deviceFd, dmaBufFd);
            }

            try
            {
                Reserve();
            }
            catch (OutOfMemoryException) when (Find(handle) is null)
            {
                // A number new to the table: no reference of anyone's is closed (an import that got it too, unlocked,
                // sees the close and asks again).
                CloseCounted(deviceFd, handle, isDumb: false);
                throw;
            }

            return new Imported(AddReference(deviceFd, handle, isDumb: false), 0);
        }
    }

    /// <summary>
    /// <see cref="ImportLocked"/> when a handle was closed since the first call: the kernel is asked again, under the
    /// lock. A method of its own so that the first import of an object, which needs no call here, does not set up the
    /// P/Invoke's frame.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Imported ImportAgainLocked(int deviceFd, int dmaBufFd)
    {
        Reserve();
        int errno = DrmPrime.FdToHandle(deviceFd, dmaBufFd, out uint handle);
        return new Imported(errno == 0 ? AddReference(deviceFd, handle, isDumb: false) : null, errno);
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
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // every per-frame release: one compare-exchange, no call
    public int Release(int deviceFd, Entry entry) => TryReleaseShared(entry) ? 0 : ReleaseLast(deviceFd, entry);

    /// <summary>
    /// Drops one reference if it is not the last, with no lock: above 1 the count cannot reach 0 here, and only the
    /// locked path takes it from 1 to 0, so no import can find the handle closing. False: it may be the last; the
    /// caller releases it with <see cref="Release(int, Entry)"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryReleaseShared(Entry entry)
    {
        for (int n = Volatile.Read(ref entry.References); n > 1;)
        {
            int seen = Interlocked.CompareExchange(ref entry.References, n - 1, n);
            if (seen == n)
            {
                return true;
            }

            n = seen;
        }

        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private int ReleaseLast(int deviceFd, Entry entry)
    {
        lock (_lock)
        {
            return ReleaseLocked(deviceFd, entry);
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

        Remove(e.Handle);
        int errno = CloseCounted(deviceFd, e.Handle, e.IsDumb);
        _free.Push(e);
        if (_count == 0)
        {
            _ownerHold.End(); // after the close: the file may close now, if its device was disposed
        }

        return errno;
    }

    /// <summary>GEM_CLOSE (or MODE_DESTROY_DUMB) under the lock, then the count of closes (see the summary).</summary>
    private int CloseCounted(int deviceFd, uint handle, bool isDumb)
    {
        int errno = isDumb ? DrmModeDumb.Destroy(deviceFd, handle) : Drm.GemClose(deviceFd, handle);
        Volatile.Write(ref _closes, _closes + 1); // after the close: an import that read the count before it sees it change
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
        _spare ??= _free.TryPop(out Entry? free) ? free : NewSpare();
        if (_count + 2 > _slots.Length)
        {
            ReserveNumber();
        }
    }

    /// <summary>
    /// A new entry, with room made in <see cref="_free"/> for every entry there is first: a last release pushes its entry
    /// there after <c>GEM_CLOSE</c>, where running out of memory would leave a closed handle in the table.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Entry NewSpare()
    {
        _free.EnsureCapacity(_entries + 1);
        var entry = new Entry(this);
        _entries++;
        return entry;
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
        Volatile.Write(ref _slots, slots); // read without the lock by duplicate imports
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
            _ = CloseCounted(deviceFd, handle, isDumb);
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
        Volatile.Write(ref e.Generation, Interlocked.Increment(ref s_generation)); // before the count makes it alive (TryReuse reads it after)
        if (_count++ == 0 && _owner is not null)
        {
            _ownerHold = Hold.Also(_owner); // every caller that makes a handle leases the file: it cannot have been released
        }

        return e;
    }

    /// <summary>What an import gave: a counted entry, or null and the errno of the kernel call.</summary>
    internal readonly struct Imported(Entry? entry, int errno)
    {
        public Entry? Entry { get; } = entry;

        public int Errno { get; } = errno;
    }

    /// <summary>One object this file holds a handle for: its number and its count of live references.</summary>
    internal sealed class Entry(GemHandleTable table)
    {
        public int References; // changed only with Interlocked; from 1 to 0 only under the table's lock
        public uint Handle;
        public bool IsDumb;

        /// <summary>Which of the objects this entry has served it serves now: unique in the process, set when it starts to.</summary>
        public long Generation;

        /// <summary>The table this entry belongs to.</summary>
        public GemHandleTable Table { get; } = table;

        /// <summary>An empty release guard of this entry's GemHandles, kept for the next one (see GemHandle's Guard).</summary>
        public GemHandle.Guard? SpareGuard;
    }
}
