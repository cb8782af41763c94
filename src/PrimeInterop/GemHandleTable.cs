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
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, Entry> _entries = [];
    private readonly Stack<Entry> _free = new(); // entries of closed handles, for reuse
    private Entry? _spare; // taken before a kernel call (see TakeSpare)
    private int _entriesCapacity; // room known to be in _entries and _free: growing them is one comparison until full
    private int _freeCapacity;

    /// <summary>How many distinct objects are in the table.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>The live references to <paramref name="handle"/>; 0 when it is not in the table.</summary>
    public int ReferencesOf(uint handle)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(handle, out Entry? e) ? Volatile.Read(ref e.References) : 0;
        }
    }

    /// <summary><c>PRIME_FD_TO_HANDLE</c> and one more reference on the handle it yields. Returns 0 or the errno.</summary>
    public int ImportEntry(int deviceFd, int dmaBufFd, out Entry? entry)
    {
        lock (_lock)
        {
            TakeSpare();
            int errno = DrmPrime.FdToHandle(deviceFd, dmaBufFd, out uint handle);
            entry = errno == 0 ? AddReference(handle, isDumb: false) : null;
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
            TakeSpare();
            int errno = DrmModeDumb.Create(deviceFd, ref arg);
            entry = errno == 0 ? AddReference(arg.handle, isDumb: true) : null;
            return errno;
        }
    }

    /// <summary>One more reference on a handle the file holds already (a GemHandle's, or one adopted from elsewhere).</summary>
    public Entry Adopt(uint handle)
    {
        lock (_lock)
        {
            TakeSpare();
            return AddReference(handle, isDumb: false);
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
            if (!_entries.TryGetValue(handle, out Entry? e) || Volatile.Read(ref e.References) <= 0)
            {
                throw new InvalidOperationException($"GEM handle {handle} released more often than it was acquired.");
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
            throw new InvalidOperationException($"GEM handle {e.Handle} released more often than it was acquired.");
        }

        if (_free.Count == _freeCapacity)
        {
            _freeCapacity = _free.EnsureCapacity(_free.Count + 1); // the push below must not fail (out of memory) after the close
        }

        _entries.Remove(e.Handle);
        int errno = e.IsDumb ? DrmModeDumb.Destroy(deviceFd, e.Handle) : Drm.GemClose(deviceFd, e.Handle);
        _free.Push(e);
        return errno;
    }

    /// <summary>
    /// Makes sure an entry and a dictionary slot are at hand for a new object; under the lock, before the kernel call,
    /// so that nothing can fail to allocate once the kernel has given a handle (it would leak in the kernel).
    /// </summary>
    private void TakeSpare()
    {
        _spare ??= _free.TryPop(out Entry? free) ? free : new Entry();
        if (_entries.Count == _entriesCapacity)
        {
            _entriesCapacity = _entries.EnsureCapacity(_entries.Count + 1);
        }
    }

    private Entry AddReference(uint handle, bool isDumb)
    {
        ref Entry? e = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, handle, out bool exists);
        if (!exists)
        {
            e = _spare!;
            _spare = null;
            e.Handle = handle;
            e.IsDumb = isDumb;
        }

        Interlocked.Increment(ref e!.References);
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
