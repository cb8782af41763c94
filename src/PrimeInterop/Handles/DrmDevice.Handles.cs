using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <content>GEM handles in this file: dumb buffers, PRIME import and export, and the handle table's references.</content>
public sealed partial class DrmDevice
{
    /// <summary>
    /// Creates a dumb buffer (<c>DRM_IOCTL_MODE_CREATE_DUMB</c>). Needs a primary node: the kernel refuses
    /// render nodes with EACCES.
    /// </summary>
    public DumbBuffer CreateDumbBuffer(uint width, uint height, uint bitsPerPixel) => DumbBuffer.Create(this, width, height, bitsPerPixel);

    /// <summary>
    /// Imports a dma-buf (<c>DRM_IOCTL_PRIME_FD_TO_HANDLE</c>). If this file already has a handle for the
    /// underlying object (imported before, or exported from here: self-import), the result refers to that same
    /// object and its reference count goes up; the handle is closed once, after the last reference is disposed.
    /// The fd is not consumed: the caller still owns and must dispose it.
    /// </summary>
    /// <param name="dmaBuf">A <see cref="DmaBuf"/>, or a <c>SafeFileHandle</c> over a dma-buf fd.</param>
    /// <exception cref="ArgumentException"><paramref name="dmaBuf"/> is a SafeHandle type that holds no fd (a
    /// SafeProcessHandle, for example); the message names the type.</exception>
    /// <remarks>
    /// A <see cref="DmaBuf"/> imported again while this file still holds its object (a buffer pool's buffers, imported
    /// each frame) is counted once more without a kernel call: the DmaBuf remembers the table entry its last
    /// duplicate import gave, and the entry is reused only while it is provably that object's.
    /// </remarks>
    public GemHandle ImportDmaBuf(SafeHandle dmaBuf)
    {
        FdHandles.ThrowIfNotFd(dmaBuf, nameof(dmaBuf));
        if (_holders.IsDisposed)
        {
            ThrowDisposed(); // the remembered import leases nothing (it makes no kernel call); a disposed device stays so
        }

        return NewHandle(ImportEntry(dmaBuf));
    }

    /// <summary>
    /// One counted reference on the handle of <paramref name="dmaBuf"/>'s object in this file, for ImportDmaBuf. A
    /// <see cref="DmaBuf"/> goes through <see cref="ImportRemembered"/>; any other handle is asked of the kernel
    /// (<see cref="ImportLeased"/>). The kernel calls are out of line: ImportDmaBuf, which serves the remembered
    /// re-import, then sets up no P/Invoke frame.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private GemHandleTable.Entry ImportEntry(SafeHandle dmaBuf) =>
        dmaBuf is DmaBuf owned ? ImportRemembered(owned) : ImportLeased(dmaBuf);

    /// <summary>The kernel import of an fd holder that is not a DmaBuf, under a lease on this file.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private GemHandleTable.Entry ImportLeased(SafeHandle dmaBuf)
    {
        using var file = DeviceLease();
        return ImportFd(dmaBuf);
    }

    /// <summary>
    /// The import of a DmaBuf: the entry it remembers, when that is still its object's, with no kernel call
    /// (<see cref="DmaBuf.ImportedEntry"/>: a counted entry keeps this file open, as the table holds it; a DmaBuf over a
    /// borrowed fd remembers none); else from the kernel, and remembered, if it owns its fd, when it was a duplicate
    /// import.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private GemHandleTable.Entry ImportRemembered(DmaBuf dmaBuf)
    {
        if (dmaBuf.IsClosed)
        {
            ThrowClosed(dmaBuf);
        }

        return dmaBuf.ImportedEntry(_table, _fd) ?? ImportRemembering(dmaBuf);
    }

    /// <summary>The kernel's part of <see cref="ImportRemembered"/>: a method of its own, since a P/Invoke's frame is set up
    /// by the method that makes it, on every call.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private GemHandleTable.Entry ImportRemembering(DmaBuf dmaBuf)
    {
        using var file = DeviceLease();
        GemHandleTable.Entry entry = ImportFd(dmaBuf);
        if (Volatile.Read(ref entry.References) > 1 && dmaBuf.CanRemember)
        {
            try
            {
                dmaBuf.RememberImport(entry); // may allocate the DmaBuf's lazy facts
            }
            catch
            {
                _table.Release(_fd, entry);
                throw;
            }
        }

        return entry;
    }

    /// <summary>
    /// PRIME_FD_TO_HANDLE of <paramref name="dmaBuf"/>'s fd with no lease on it, which costs two calls with their own
    /// loops: a SafeHandle marks itself closed before it closes its fd, so a handle found open after the call was
    /// open, and its fd the same file, all through it. One found closed after it (closed before the call, or during
    /// it) gives back what the call counted (its fd may have named another file by then) and throws
    /// ObjectDisposedException. Once the kernel has given the handle, the dma-buf's fd is not needed: the handle keeps
    /// the object.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private GemHandleTable.Entry ImportFd(SafeHandle dmaBuf)
    {
        int fd = (int)dmaBuf.DangerousGetHandle();
        GemHandleTable.Imported imported = _table.Import(_fd, fd);
        if (dmaBuf.IsClosed)
        {
            ReleaseAndThrowClosed(dmaBuf, imported.Entry);
        }

        if (imported.Entry is not { } entry)
        {
            ThrowImportError(imported.Errno, fd);
            return null!;
        }

        return entry;
    }

    [DoesNotReturn]
    private static void ThrowClosed(SafeHandle dmaBuf) => throw new ObjectDisposedException(dmaBuf.GetType().Name, $"The {dmaBuf} was disposed; it cannot be imported.");

    [DoesNotReturn]
    private void ReleaseAndThrowClosed(SafeHandle dmaBuf, GemHandleTable.Entry? entry)
    {
        if (entry is not null)
        {
            _table.Release(_fd, entry);
        }

        ThrowClosed(dmaBuf);
    }

    /// <summary>
    /// Imports every plane of <paramref name="description"/>. Planes that share a buffer object share its handle.
    /// On failure, the planes imported so far are released again.
    /// </summary>
    public ImportedBuffer ImportBuffer(DmaBufDescription description) => ImportedBuffer.Import(this, description);

    /// <summary>
    /// Takes a handle this file got from elsewhere (a driver-specific create ioctl issued on <see cref="FileHandle"/>)
    /// into the table, so it is shared and closed like any other. If the table already has it, this is one more
    /// reference. The kernel is not asked whether the handle exists; a wrong one fails at its first use (ENOENT).
    /// </summary>
    public GemHandle AdoptHandle(uint handle)
    {
        ArgumentOutOfRangeException.ThrowIfZero(handle);
        using var device = DeviceLease();
        return NewHandle(_table.Adopt(handle));
    }

    /// <summary>
    /// Exports a buffer object as a dma-buf (<c>DRM_IOCTL_PRIME_HANDLE_TO_FD</c>); the fd is always close-on-exec.
    /// The dma-buf keeps the buffer object alive after every handle to it is closed.
    /// </summary>
    public DmaBuf ExportDmaBuf(GemHandle handle, DmaBufExportFlags flags = DmaBufExportFlags.None)
    {
        ArgumentNullException.ThrowIfNull(handle);
        CheckExport(handle, flags);

        // An operation of a live handle: holding it keeps it from being closed under the ioctl, and keeps this
        // file open even after the device was disposed.
        using var held = handle.Lease();
        var dmaBuf = new DmaBuf(fd: -1, ownsHandle: true); // before the ioctl: nothing may fail between the kernel making the fd and its owner
        dmaBuf.Own(ExportFd(handle.Number, flags));
        return dmaBuf;
    }

    // The per-frame paths (export, import, the lane) are kept to as few calls as they can be: the checks are inlined
    // and their throws are not (a method that throws is not inlined, and would cost a call on every frame).

    /// <summary>The argument checks of every export of a <see cref="GemHandle"/>, before anything is leased.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckExport(GemHandle handle, DmaBufExportFlags flags)
    {
        if (!ReferenceEquals(handle.Device, this))
        {
            ThrowForeignHandle(handle);
        }

        ExportFlags.Check(flags);
    }

    [DoesNotReturn]
    private void ThrowForeignHandle(GemHandle handle) =>
        throw new ArgumentException($"{handle} belongs to another open DRM file, not {Path}; handles are per open file.", nameof(handle));

    /// <summary>PRIME_HANDLE_TO_FD, always close-on-exec; the caller holds the handle (and so this file) open.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ExportFd(uint handle, DmaBufExportFlags flags)
    {
        int errno = DrmPrime.HandleToFd(_fd, handle, DrmPrime.DRM_CLOEXEC | (uint)flags, out int fd);
        if (errno != 0)
        {
            ThrowExportError(errno, handle);
        }

        return fd;
    }

    [DoesNotReturn]
    private void ThrowExportError(int errno, uint handle) =>
        ThrowHelper.Throw(errno, nameof(DrmPrime.DRM_IOCTL_PRIME_HANDLE_TO_FD), Path, gemHandle: handle);

    /// <summary>
    /// Wraps one reference the table has just counted. Should the GemHandle fail to come into being (memory runs out),
    /// the count is dropped again, so no error leaks a handle.
    /// </summary>
    internal GemHandle NewHandle(GemHandleTable.Entry entry)
    {
        try
        {
            return new GemHandle(this, entry);
        }
        catch
        {
            _table.Release(_fd, entry); // the table holds this file while the entry is counted
            throw;
        }
    }

    /// <summary>Another counted reference to the object of a live handle of this device.</summary>
    internal GemHandle AddReference(GemHandle source)
    {
        if (!ReferenceEquals(source.Device, this))
        {
            throw new ArgumentException($"{source} belongs to another open DRM file, not {Path}.", nameof(source));
        }

        using var held = source.Lease(); // the object cannot reach zero references while we count one more
        return NewHandle(_table.Adopt(source.Number));
    }

    /// <summary>
    /// A GemHandle's release of its table entry: drops its count (the last closes the kernel handle; the table holds
    /// this file until after). A failing GEM_CLOSE has no one to report to (Dispose, or the finalizer): the
    /// kernel has closed the handle or never had it, and the table forgets it either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // every per-frame Dispose: one compare-exchange, no call
    internal void ReleaseEntry(GemHandleTable.Entry entry)
    {
        if (!GemHandleTable.TryReleaseShared(entry))
        {
            ReleaseLastEntry(entry);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReleaseLastEntry(GemHandleTable.Entry entry) => _table.Release(_fd, entry);

    [DoesNotReturn]
    private void ThrowImportError(int errno, int fd) =>
        ThrowHelper.Throw(errno, nameof(DrmPrime.DRM_IOCTL_PRIME_FD_TO_HANDLE), Path, fd: fd, hint:
            errno == Errno.EINVAL && !DmaBuf.IsDmaBuf(fd) ? $"fd {fd} is not a dma-buf" : null);
}
