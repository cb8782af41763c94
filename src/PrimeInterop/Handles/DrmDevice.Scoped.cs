using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The zero-allocation lane: an import or an export whose result lives only for the call of a body, then is
/// released (the handle reference dropped, the fd closed) whether the body returns or throws. Imports go through
/// the same handle table and lock as <see cref="ImportDmaBuf"/>, so a buffer imported in both lanes has one kernel
/// handle, closed once, after the last reference of either lane. For loops that import, export or re-import per
/// frame; keep the SafeHandle API (<see cref="GemHandle"/>, <see cref="DmaBuf"/>) for anything stored beyond a call.
/// </summary>
public sealed partial class DrmDevice
{
    /// <summary>
    /// Imports a dma-buf (<c>PRIME_FD_TO_HANDLE</c>, through the handle table) for the duration of
    /// <paramref name="body"/>, then drops the reference; the handle is closed if that was its last one. The handle
    /// keeps the buffer object alive for the scope, so the dma-buf may be disposed meanwhile; one disposed during the
    /// import itself is ObjectDisposedException. Every import here asks the kernel: the remembered imports of
    /// <see cref="ImportDmaBuf"/> are not looked for, since the look, and the remembering, would cost every other import
    /// here a third of what the lane adds to the call.
    /// </summary>
    /// <param name="dmaBuf">A <see cref="DmaBuf"/>, or a <c>SafeFileHandle</c> over a dma-buf fd (not a SafeHandle type
    /// that holds no fd: see <see cref="ImportDmaBuf"/>).</param>
    /// <param name="state">Passed by reference to <paramref name="body"/>: its inputs and results.</param>
    /// <param name="body">Preferably a <c>static</c> lambda: one that captures nothing is allocated once.</param>
    public void ImportScoped<TState>(SafeHandle dmaBuf, ref TState state, BorrowedGemHandleAction<TState> body)
        where TState : allows ref struct
    {
        FdHandles.ThrowIfNotFd(dmaBuf, nameof(dmaBuf));
        ArgumentNullException.ThrowIfNull(body);
        Lease<DrmDevice> file = DeviceLease(); // this file stays open (and its handle namespace alive) for the whole scope

        // One protected region for the lease and the reference (a using for the lease would add a second, on the
        // per-frame path); the import's own failures leave the entry null.
        GemHandleTable.Entry? entry = null;
        try
        {
            entry = ImportFd(dmaBuf);
            body(new BorrowedGemHandle(this, entry.Handle), ref state);
        }
        finally
        {
            EndScope(entry, file);
        }
    }

    /// <summary>Imports a dma-buf lent by <see cref="ExportScoped{TState}(GemHandle, ref TState, BorrowedDmaBufAction{TState})"/> (of this or another device) for the duration of <paramref name="body"/>.</summary>
    public void ImportScoped<TState>(scoped BorrowedDmaBuf dmaBuf, ref TState state, BorrowedGemHandleAction<TState> body)
        where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(body);
        ImportScoped(dmaBuf.DangerousGetFileDescriptor(), ref state, body);
    }

    /// <summary>
    /// Exports a buffer object as a close-on-exec dma-buf (<c>PRIME_HANDLE_TO_FD</c>) for the duration of
    /// <paramref name="body"/>, then closes the fd.
    /// </summary>
    public void ExportScoped<TState>(GemHandle handle, ref TState state, BorrowedDmaBufAction<TState> body)
        where TState : allows ref struct => ExportScoped(handle, DmaBufExportFlags.None, ref state, body);

    /// <summary>
    /// Exports a buffer object as a close-on-exec dma-buf (<c>PRIME_HANDLE_TO_FD</c>, with <paramref name="flags"/>)
    /// for the duration of <paramref name="body"/>, then closes the fd.
    /// </summary>
    public void ExportScoped<TState>(GemHandle handle, DmaBufExportFlags flags, ref TState state, BorrowedDmaBufAction<TState> body)
        where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(body);
        CheckExport(handle, flags);

        int fd;
        using (var held = handle.Lease()) // the handle stays open under the ioctl; it holds this file
        {
            fd = ExportFd(handle.Number, flags);
        }

        Lend(fd, ref state, body);
    }

    /// <summary>Exports a handle lent by <see cref="ImportScoped{TState}(SafeHandle, ref TState, BorrowedGemHandleAction{TState})"/> on this device for the duration of <paramref name="body"/>.</summary>
    public void ExportScoped<TState>(scoped BorrowedGemHandle handle, ref TState state, BorrowedDmaBufAction<TState> body)
        where TState : allows ref struct => ExportScoped(handle, DmaBufExportFlags.None, ref state, body);

    /// <summary>Exports a handle lent by an import scope on this device, with <paramref name="flags"/>, for the duration of <paramref name="body"/>.</summary>
    public void ExportScoped<TState>(scoped BorrowedGemHandle handle, DmaBufExportFlags flags, ref TState state, BorrowedDmaBufAction<TState> body)
        where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(body);
        if (!ReferenceEquals(handle.Device, this))
        {
            throw new ArgumentException(handle.Device is null
                ? "This BorrowedGemHandle was not lent by a scope."
                : $"GEM handle {handle.Value} belongs to {handle.Device.Path}, not {Path}; handles are per open file.", nameof(handle));
        }

        ExportFlags.Check(flags);

        // The import scope that lent the handle holds it and this file until it ends, which is after this call.
        Lend(ExportFd(handle.Value, flags), ref state, body);
    }

    /// <summary>Lends a dma-buf fd just exported to <paramref name="body"/>, and closes it when the body returns or throws.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lend<TState>(int fd, ref TState state, BorrowedDmaBufAction<TState> body)
        where TState : allows ref struct
    {
        // A finally, not a catch: CoreCLR's JIT makes no P/Invoke inline inside a try that has a catch, and a body it
        // inlines here (when dynamic PGO devirtualizes the delegate: an import scope, say) has P/Invokes of its own. Nor
        // inside a handler, so the close of the normal path follows the try.
        bool returned = false;
        try
        {
            body(new BorrowedDmaBuf(fd), ref state);
            returned = true;
        }
        finally
        {
            if (!returned)
            {
                Libc.Close(fd);
            }
        }

        Libc.Close(fd);
    }

    private void ImportScoped<TState>(int dmaBufFd, ref TState state, BorrowedGemHandleAction<TState> body)
        where TState : allows ref struct
    {
        Lease<DrmDevice> file = DeviceLease(); // as in ImportScoped(SafeHandle, …): one protected region
        GemHandleTable.Entry? entry = null;
        try
        {
            GemHandleTable.Imported imported = _table.Import(_fd, dmaBufFd);
            entry = imported.Entry;
            if (entry is null)
            {
                ThrowImportError(imported.Errno, dmaBufFd);
            }

            body(new BorrowedGemHandle(this, entry.Handle), ref state);
        }
        finally
        {
            EndScope(entry, file);
        }
    }

    /// <summary>The end of an import scope: its reference dropped (if the import counted one), then its lease on the file.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndScope(GemHandleTable.Entry? entry, Lease<DrmDevice> file)
    {
        if (entry is not null)
        {
            _table.Release(_fd, entry);
        }

        file.Dispose();
    }
}
