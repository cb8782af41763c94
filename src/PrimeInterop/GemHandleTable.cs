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
/// Entries are structs in the dictionary: importing, counting and releasing allocate nothing (the dictionary grows
/// to the high-water mark of live objects and stays there). The kernel calls are made inline, with no delegate.
/// Callers hold a reference on the device's fd for every counted reference and for the span of each call.
/// </para>
/// </summary>
internal sealed class GemHandleTable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<uint, Entry> _entries = [];

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
            return _entries.TryGetValue(handle, out Entry e) ? e.References : 0;
        }
    }

    /// <summary><c>PRIME_FD_TO_HANDLE</c> and one more reference on the handle it yields. Returns 0 or the errno.</summary>
    public int Import(int deviceFd, int dmaBufFd, out uint handle)
    {
        lock (_lock)
        {
            int errno = DrmPrime.FdToHandle(deviceFd, dmaBufFd, out handle);
            if (errno == 0)
            {
                AddReference(handle, isDumb: false);
            }

            return errno;
        }
    }

    /// <summary><c>MODE_CREATE_DUMB</c> and the first reference on its handle. Returns 0 or the errno.</summary>
    public int CreateDumb(int deviceFd, ref DrmModeDumb.drm_mode_create_dumb arg)
    {
        lock (_lock)
        {
            int errno = DrmModeDumb.Create(deviceFd, ref arg);
            if (errno == 0)
            {
                AddReference(arg.handle, isDumb: true);
            }

            return errno;
        }
    }

    /// <summary>One more reference on a handle the file holds already (a GemHandle's, or one adopted from elsewhere).</summary>
    public void Adopt(uint handle)
    {
        lock (_lock)
        {
            AddReference(handle, isDumb: false);
        }
    }

    /// <summary>
    /// Drops one reference; the last one closes the kernel handle, under the lock. Returns 0, or the errno of that
    /// close (the entry is gone either way: the kernel closes or has already closed the handle).
    /// </summary>
    public int Release(int deviceFd, uint handle)
    {
        lock (_lock)
        {
            ref Entry e = ref CollectionsMarshal.GetValueRefOrNullRef(_entries, handle);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref e) || e.References <= 0)
            {
                throw new InvalidOperationException($"GEM handle {handle} released more often than it was acquired.");
            }

            if (--e.References > 0)
            {
                return 0;
            }

            bool isDumb = e.IsDumb;
            _entries.Remove(handle);
            return isDumb ? DrmModeDumb.Destroy(deviceFd, handle) : Drm.GemClose(deviceFd, handle);
        }
    }

    private void AddReference(uint handle, bool isDumb)
    {
        ref Entry e = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, handle, out bool exists);
        if (!exists)
        {
            e.IsDumb = isDumb;
        }

        e.References++;
    }

    private struct Entry
    {
        public int References;
        public bool IsDumb;
    }
}
