using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop.Bench;

/// <summary>
/// The floor of the SafeHandle API: the raw ioctls (bound like the library's, no SetLastError) plus exactly one
/// bare SafeHandle per result, with no table, lease or argument check. The API cannot be cheaper than this without
/// dropping the SafeHandle, so a target this floor misses is out of the SafeHandle API's reach.
/// </summary>
internal static unsafe partial class Floor
{
    private const nuint HandleToFd = 0xc00c642d, FdToHandle = 0xc00c642e, GemClose = 0x40086409;
    private const uint DrmCloexec = 0x80000;
    private const nuint DmaBufSync = 0x40086200; // _IOW('b', 0, struct dma_buf_sync)
    private const ulong SyncReadWrite = 3, SyncStart = 0, SyncEnd = 4;

    public static void Export(int card, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var fd = new FdHandle(ExportFd(card, handle));
        }
    }

    public static void RoundTrip(int card, int render, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var fd = new FdHandle(ExportFd(card, handle));
            using var h = new GemCloseHandle(render, Import(render, (int)fd.DangerousGetHandle()));
        }
    }

    /// <summary>A duplicate import: the handle is the held one, so its SafeHandle closes nothing (the table's job).</summary>
    public static void DupImport(int render, int dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var h = new NoCloseHandle(Import(render, dmaBuf));
        }
    }

    // ---- raw-*: the syscalls alone, from C# (LibraryImport, as the library binds them): no SafeHandle, lease, table or
    // check. What C# costs over C before any of the library's rules; the rules variants below add those back.

    public static void RawExport(int card, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            _ = SysClose(ExportFd(card, handle));
        }
    }

    public static void RawRoundTrip(int card, int render, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            int fd = ExportFd(card, handle);
            ulong close = Import(render, fd); // struct drm_gem_close { u32 handle; u32 pad; }
            Check(Sys(render, GemClose, &close));
            _ = SysClose(fd);
        }
    }

    public static void RawDupImport(int render, int dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            _ = Import(render, dmaBuf);
        }
    }

    public static void RawAccess(int dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            ulong start = SyncStart | SyncReadWrite, end = SyncEnd | SyncReadWrite;
            Check(Sys(dmaBuf, DmaBufSync, &start));
            Check(Sys(dmaBuf, DmaBufSync, &end));
        }
    }

    /// <summary>raw-access with SYNC_END where a <c>using</c> puts it, in a finally: the JIT makes no P/Invoke in a
    /// handler inline, so this one goes through the runtime's stub, which sets up a transition frame on every call. What
    /// any API whose access ends in a Dispose pays, before its first rule.</summary>
    public static void RawFinallyAccess(int dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            ulong start = SyncStart | SyncReadWrite, end = SyncEnd | SyncReadWrite;
            Check(Sys(dmaBuf, DmaBufSync, &start));
            try
            {
                Lent(dmaBuf);
            }
            finally
            {
                Check(Sys(dmaBuf, DmaBufSync, &end));
            }
        }
    }

    // ---- rules-*: the floor plus the least that the library's rules add, still with no argument check or wrapper:
    // a hold on everything whose fd or handle a call uses (a lease, AddRef/Release, on the caller's SafeHandles: the
    // dma-buf; the cheaper inlined HolderCount on what the library owns: the GemHandle, the device's file, the
    // mapping; see Holder), and the handle table: a lock held
    // across FD_TO_HANDLE and the count, and across the last release's GEM_CLOSE. A target that these miss is out of
    // reach of any implementation that keeps the rules (one handle per object, counted; no fd/handle recycled under
    // a call). The lanes carry no SafeHandle per result, so rules-lane-* have none either.

    /// <summary>The SafeHandle API's export: the GemHandle's hold around HANDLE_TO_FD, one bare SafeHandle.</summary>
    public static void RulesExport(Holder gemHandle, int card, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            gemHandle.Hold();
            using var fd = new FdHandle(ExportFd(card, handle));
            gemHandle.End();
        }
    }




    // rules-lane-*: a lane lends its fd or handle to the caller's code and must release it on every path, exceptions
    // included, so each op runs in a method with exception handling: .NET does not inline such a method (the lane's
    // ExportScoped is marked AggressiveInlining and still is not), and a method of its own that makes a P/Invoke sets
    // up its P/Invoke frame on every call. So one non-inlined call per op, with the release on every path (a catch
    // that releases and rethrows, the normal path's release outside any handler, as the lane does), and no argument
    // check or delegate.

    /// <summary>The lane's export: the GemHandle's hold around HANDLE_TO_FD, close on every path.</summary>
    public static void RulesLaneExport(Holder gemHandle, int card, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            LaneExportOnce(gemHandle, card, handle);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LaneExportOnce(Holder gemHandle, int card, uint handle)
    {
        gemHandle.Hold();
        int fd = ExportFd(card, handle);
        gemHandle.End();
        try
        {
            Lent(fd);
        }
        catch
        {
            _ = SysClose(fd);
            throw;
        }

        _ = SysClose(fd);
    }

    /// <summary>The lane's duplicate import: a lease on the dma-buf (the caller's SafeHandle) and a hold on the device,
    /// the table's lock and count around FD_TO_HANDLE, then the count again for the release (not the last one: render
    /// holds the object) on every path.</summary>
    public static void RulesLaneDupImport(Table table, Holder device, int deviceFd, SafeHandle dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            LaneImportOnce(table, device, deviceFd, dmaBuf);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LaneImportOnce(Table table, Holder device, int deviceFd, SafeHandle dmaBuf)
    {
        bool a = false;
        dmaBuf.DangerousAddRef(ref a);
        device.Hold();
        Table.Entry h = table.Import(deviceFd, (int)dmaBuf.DangerousGetHandle());
        try
        {
            Lent((int)h.Handle);
        }
        finally
        {
            table.Release(deviceFd, h);
            device.End();
            dmaBuf.DangerousRelease();
        }
    }

    /// <summary>The lane's round trip: <see cref="RulesLaneExport"/> with an import through the table inside (a
    /// call of its own, as <see cref="RulesLaneDupImport"/>), whose release is the last one (GEM_CLOSE under the lock).</summary>
    public static void RulesLaneRoundTrip(Table table, Holder gemHandle, int card, Holder render, int renderFd, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            LaneRoundTripOnce(table, gemHandle, card, render, renderFd, handle);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LaneRoundTripOnce(Table table, Holder gemHandle, int card, Holder render, int renderFd, uint handle)
    {
        gemHandle.Hold();
        int fd = ExportFd(card, handle);
        gemHandle.End();
        try
        {
            LaneImportFdOnce(table, render, renderFd, fd);
        }
        catch
        {
            _ = SysClose(fd);
            throw;
        }

        _ = SysClose(fd);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LaneImportFdOnce(Table table, Holder device, int deviceFd, int fd)
    {
        device.Hold();
        Table.Entry h = table.Import(deviceFd, fd);
        try
        {
            Lent((int)h.Handle);
        }
        finally
        {
            table.Release(deviceFd, h);
            device.End();
        }
    }

    // rules-lane-cb-roundtrip: rules-lane-roundtrip in the lane's API shape. The lane hands its fd or handle to the
    // caller's code as a static callback with state (what cannot escape its scope without a ref struct, and a ref
    // struct scope can be copied and so released twice), so each scope calls its body through a delegate, with the
    // state by reference. No argument check; the JIT inlines or not as it does for the lane.

    /// <summary>The state of <see cref="RulesLaneCallbackRoundTrip"/>'s bodies, as a lane caller's would be.</summary>
    public struct CallbackState
    {
        public Table Table;
        public Holder Render;
        public int RenderFd;
        public int Count;
    }

    public delegate void FdBody(int fd, ref CallbackState state);

    public delegate void HandleBody(uint handle, ref CallbackState state);

    /// <summary><see cref="RulesLaneRoundTrip"/> with each scope's body called through a delegate.</summary>
    public static void RulesLaneCallbackRoundTrip(Table table, Holder gemHandle, int card, Holder render, int renderFd, uint handle, int n)
    {
        var state = new CallbackState { Table = table, Render = render, RenderFd = renderFd };
        for (int i = 0; i < n; i++)
        {
            ExportScope(gemHandle, card, handle, ref state, static (int fd, ref CallbackState s) =>
                ImportScope(s.Table, s.Render, s.RenderFd, fd, ref s, static (uint h, ref CallbackState s) => s.Count++));
        }

        if (state.Count != n)
        {
            throw new InvalidOperationException($"floor: {state.Count} bodies ran, not {n}");
        }
    }

    private static void ExportScope(Holder gemHandle, int card, uint handle, ref CallbackState state, FdBody body)
    {
        gemHandle.Hold();
        int fd = ExportFd(card, handle);
        gemHandle.End();
        try
        {
            body(fd, ref state);
        }
        catch
        {
            _ = SysClose(fd);
            throw;
        }

        _ = SysClose(fd);
    }

    private static void ImportScope(Table table, Holder device, int deviceFd, int fd, ref CallbackState state, HandleBody body)
    {
        device.Hold();
        Table.Entry h = table.Import(deviceFd, fd);
        try
        {
            body(h.Handle, ref state);
        }
        finally
        {
            table.Release(deviceFd, h);
            device.End();
        }
    }

    /// <summary>What a lane's caller does with what it is lent: here nothing, but the JIT cannot know that.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Lent(int value) => _ = value;

    /// <summary>CPU access: SYNC start and end inside a hold on the mapping (the span's memory must stay mapped), the
    /// end in a finally, because it must be sent on every path: a <c>using</c> scope puts it there, and .NET does not
    /// inline a P/Invoke inside a finally (it calls it through its stub).</summary>
    public static void RulesAccess(Holder mapping, int dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            mapping.Hold();
            ulong start = SyncStart | SyncReadWrite, end = SyncEnd | SyncReadWrite;
            Check(Sys(dmaBuf, DmaBufSync, &start));
            try
            {
                Lent(dmaBuf);
            }
            finally
            {
                Check(Sys(dmaBuf, DmaBufSync, &end));
                mapping.End();
            }
        }
    }

    /// <summary>The SafeHandle API's duplicate import: the lane's, with one bare SafeHandle per result whose release
    /// goes through the table (the device reference it holds is the one the lease took).</summary>
    public static void RulesDupImport(Table table, Holder device, int deviceFd, SafeHandle dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            bool a = false;
            device.Hold();
            dmaBuf.DangerousAddRef(ref a);
            Table.Entry h = table.Import(deviceFd, (int)dmaBuf.DangerousGetHandle());
            dmaBuf.DangerousRelease();
            using var r = new TableHandle(table, device, deviceFd, h);
        }
    }

    /// <summary>The SafeHandle API's round trip: the export's lease and bare SafeHandle, then the import as in
    /// <see cref="RulesDupImport"/>, whose release is the last one.</summary>
    public static void RulesRoundTrip(Table table, Holder gemHandle, int card, Holder render, int renderFd, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            bool c = false;
            gemHandle.Hold();
            using var fd = new FdHandle(ExportFd(card, handle));
            gemHandle.End();
            render.Hold();
            fd.DangerousAddRef(ref c);
            Table.Entry h = table.Import(renderFd, (int)fd.DangerousGetHandle());
            fd.DangerousRelease();
            using var r = new TableHandle(table, render, renderFd, h);
        }
    }


    /// <summary>raw-fdpass-N: fd passing as C does it, from C#: one sendmsg and one recvmsg on stack memory, the received fds closed.</summary>
    public static void FdPass(int socket, ReadOnlySpan<int> fds, int n) => FdPass(socket, fds, n, ownEach: false);

    /// <summary>floor-fdpass-N: raw-fdpass with one bare SafeHandle per fd received (disposed, which closes it).</summary>
    public static void FloorFdPass(int socket, ReadOnlySpan<int> fds, int n) => FdPass(socket, fds, n, ownEach: true);

    private static void FdPass(int socket, ReadOnlySpan<int> fds, int n, bool ownEach)
    {
        const int headerSize = 16; // CMSG_ALIGN(sizeof(struct cmsghdr))
        int controlLength = headerSize + 16; // CMSG_SPACE(4 * sizeof(int))
        byte* control = stackalloc byte[controlLength];
        ulong payload = 0x5052494d45424e43ul;
        for (int i = 0; i < n; i++)
        {
            var iov = new IoVec { Base = &payload, Length = 8 };
            var msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)(headerSize + ((fds.Length * 4 + 7) & ~7)) };
            *(nuint*)control = (nuint)(headerSize + fds.Length * 4);
            ((int*)control)[2] = 1; // SOL_SOCKET
            ((int*)control)[3] = 1; // SCM_RIGHTS
            fds.CopyTo(new Span<int>(control + headerSize, fds.Length));
            if (SendMsg(socket, &msg, 0x4000) != 8)
            {
                throw new InvalidOperationException($"floor: sendmsg failed, errno {Marshal.GetLastSystemError()}");
            }

            msg = new MsgHdr { Iov = &iov, IovLength = 1, Control = control, ControlLength = (nuint)controlLength };
            if (RecvMsg(socket, &msg, 0x40000000) != 8 || (msg.Flags & 0x28) != 0)
            {
                throw new InvalidOperationException($"floor: recvmsg failed, errno {Marshal.GetLastSystemError()}");
            }

            int count = (int)((*(nuint*)control - headerSize) / 4);
            for (int k = 0; k < count; k++)
            {
                int received = ((int*)(control + headerSize))[k];
                if (ownEach)
                {
                    using var handle = new FdHandle(received);
                }
                else
                {
                    _ = SysClose(received);
                }
            }

            if (count != fds.Length)
            {
                throw new InvalidOperationException($"floor: {count} fds came back, not {fds.Length}");
            }
        }
    }

    /// <summary>
    /// rules-fdpass-N: raw-fdpass plus the leases the rules need: each fd sent is the caller's SafeHandle (a DmaBuf),
    /// leased around the sendmsg so that it cannot be closed and its number reused under the call; the socket is
    /// leased by the send call and by the receive call (the API's two calls).
    /// </summary>
    public static void RulesFdPass(SafeHandle socket, ReadOnlySpan<SafeHandle> handles, int n)
    {
        Span<int> fds = stackalloc int[handles.Length];
        int fd = (int)socket.DangerousGetHandle();
        for (int i = 0; i < n; i++)
        {
            bool send = false, receive = false;
            socket.DangerousAddRef(ref send);
            socket.DangerousAddRef(ref receive);
            for (int k = 0; k < handles.Length; k++)
            {
                bool added = false;
                handles[k].DangerousAddRef(ref added);
                fds[k] = (int)handles[k].DangerousGetHandle();
            }

            FdPass(fd, fds, 1);
            for (int k = 0; k < handles.Length; k++)
            {
                handles[k].DangerousRelease();
            }

            socket.DangerousRelease();
            socket.DangerousRelease();
        }
    }

    private static int ExportFd(int card, uint handle)
    {
        var arg = new PrimeHandle { Handle = handle, Flags = DrmCloexec, Fd = -1 };
        Check(Sys(card, HandleToFd, &arg));
        return arg.Fd;
    }

    private static uint Import(int render, int fd)
    {
        var arg = new PrimeHandle { Fd = fd };
        Check(Sys(render, FdToHandle, &arg));
        return arg.Handle;
    }

    private static void Check(int r)
    {
        if (r == -1)
        {
            throw new InvalidOperationException($"floor: ioctl failed, errno {Marshal.GetLastSystemError()}");
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "sendmsg")]
    private static partial nint SendMsg(int socket, MsgHdr* msg, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "recvmsg")]
    private static partial nint RecvMsg(int socket, MsgHdr* msg, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "ioctl")]
    private static partial int Sys(int fd, nuint request, void* arg);

    [LibraryImport("libc.so.6", EntryPoint = "close")]
    private static partial int SysClose(int fd);

    [LibraryImport("libc.so.6", EntryPoint = "getrusage")]
    private static partial int GetRUsage(int who, long* usage);

    /// <summary>
    /// The calling thread's minor page faults so far (<c>getrusage(RUSAGE_THREAD)</c>'s ru_minflt): read around a loop
    /// without allocating, it counts the GC heap pages that loop's allocations had the kernel map.
    /// </summary>
    public static long MinorFaults(bool wholeProcess = false)
    {
        // struct rusage: two struct timevals (4 longs), then ru_maxrss, ru_ixrss, ru_idrss, ru_isrss, ru_minflt, ...
        long* usage = stackalloc long[18];
        Check(GetRUsage(wholeProcess ? 0 /* RUSAGE_SELF */ : 1 /* RUSAGE_THREAD */, usage));
        return usage[8];
    }

    /// <summary>
    /// The least a handle table that keeps the PRIME rules can do: one lock, held across FD_TO_HANDLE and the count
    /// (so a concurrent last release cannot close the handle the kernel just returned), and across the last release's
    /// count and GEM_CLOSE (so no import can return a number that is being closed). A release that is not the last
    /// takes no lock: one compare-exchange on the entry's count above 1 (only the locked path takes it from 1 to 0).
    /// Entries are pooled, so a new object costs no allocation, and found by handle number in an array (the kernel
    /// numbers a file's handles densely from 1). And no error may leak a kernel handle: what recording a new handle
    /// needs (an entry; the array is made once, big enough for the bench's numbers) is made sure of before
    /// FD_TO_HANDLE, and room in the pool before GEM_CLOSE, so running out of memory cannot strike between the kernel
    /// call and its bookkeeping. The library's table (GemHandleTable) works the same way; this one has no argument
    /// checks, errno plumbing, dumb buffers, growing array or dictionary for numbers beyond it.
    /// </summary>
    public sealed class Table
    {
        private readonly Lock _lock = new();
        private readonly Entry?[] _slots = new Entry?[1 << 16]; // indexed by handle number, as the library's; made once, big enough for the bench
        private readonly Stack<Entry> _free = new();
        private Entry? _spare;
        private int _freeCapacity;

        public Entry Import(int device, int dmaBuf)
        {
            lock (_lock)
            {
                // Before the kernel call, what recording its handle needs: once FD_TO_HANDLE returned, running out
                // of memory would leak the handle in the kernel (the library's table does the same).
                _spare ??= _free.TryPop(out Entry? free) ? free : new Entry();
                uint h = Floor.Import(device, dmaBuf);
                ref Entry? e = ref _slots[h];
                if (e is null)
                {
                    e = _spare;
                    _spare = null;
                    e.Handle = h;
                }

                Interlocked.Increment(ref e.References);
                return e;
            }
        }

        /// <summary>Drops a handle's entry without closing it (the bench's held import belongs to the library).</summary>
        public void Forget(uint handle)
        {
            lock (_lock)
            {
                _slots[handle] = null;
            }
        }

        public void Release(int device, Entry e)
        {
            for (int n = Volatile.Read(ref e.References); n > 1;)
            {
                int seen = Interlocked.CompareExchange(ref e.References, n - 1, n);
                if (seen == n)
                {
                    return;
                }

                n = seen;
            }

            lock (_lock)
            {
                if (Interlocked.Decrement(ref e.References) == 0)
                {
                    if (_free.Count == _freeCapacity)
                    {
                        _freeCapacity = _free.EnsureCapacity(_free.Count + 1); // the push after GEM_CLOSE cannot fail
                    }

                    _slots[e.Handle] = null;
                    ulong arg = e.Handle;
                    Check(Sys(device, GemClose, &arg));
                    _free.Push(e);
                }
            }
        }

        public sealed class Entry
        {
            public uint Handle;
            public int References;
        }
    }

    /// <summary>A bare SafeHandle over a counted table reference, holding the device's file (released after the table).</summary>
    private sealed class TableHandle : SafeHandle
    {
        private readonly Table _table;
        private readonly Holder _device;
        private readonly int _deviceFd;
        private readonly Table.Entry _entry;

        public TableHandle(Table table, Holder device, int deviceFd, Table.Entry entry)
            : base(0, ownsHandle: true)
        {
            _table = table;
            _device = device;
            _deviceFd = deviceFd;
            _entry = entry;
            SetHandle((nint)entry.Handle);
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            _table.Release(_deviceFd, _entry);
            _device.End();
            return true;
        }
    }

    /// <summary>
    /// A hold on something a call must keep open (a GemHandle, a device's file, a mapping), as the library takes it:
    /// its <c>HolderCount</c>, one compare-exchange to hold and one atomic add to end, inlined. Cheaper than a
    /// SafeHandle's DangerousAddRef/DangerousRelease (two calls with their own loops); the library uses it for its own
    /// objects, and a SafeHandle lease only for the caller's SafeHandles (a DmaBuf, a socket).
    /// </summary>
    public sealed class Holder
    {
        private HolderCount _count;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Hold()
        {
            ObjectDisposedException.ThrowIf(!_count.TryHold(), this);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void End()
        {
            if (_count.EndHold())
            {
                throw new InvalidOperationException("floor: a holder was released");
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PrimeHandle
    {
        public uint Handle;
        public uint Flags;
        public int Fd;
    }

    private sealed class FdHandle : SafeHandle
    {
        public FdHandle(int fd)
            : base(-1, ownsHandle: true) => SetHandle(fd);

        public override bool IsInvalid => handle < 0;

        protected override bool ReleaseHandle() => SysClose((int)handle) == 0;
    }

    private sealed class GemCloseHandle : SafeHandle
    {
        private readonly int _device;

        public GemCloseHandle(int device, uint handle)
            : base(0, ownsHandle: true)
        {
            _device = device;
            SetHandle((nint)handle);
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            ulong arg = (uint)handle; // struct drm_gem_close { u32 handle; u32 pad; }
            return Sys(_device, GemClose, &arg) == 0;
        }
    }

    private sealed class NoCloseHandle : SafeHandle
    {
        public NoCloseHandle(uint handle)
            : base(0, ownsHandle: true) => SetHandle((nint)handle);

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle() => true;
    }
}
