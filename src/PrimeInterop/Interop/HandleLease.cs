using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PrimeInterop.Interop;

/// <summary>
/// The one way this library holds a SafeHandle while it uses the fd (or handle) behind it: a reference for the
/// span of one call, so a concurrent Dispose cannot close (and the kernel recycle) the fd under us. Every syscall
/// on an fd the library did not just create runs inside a lease. Throws ObjectDisposedException when the handle
/// is already closed. A child handle that needs its parent for its whole life takes that reference once, in its
/// constructor (<see cref="ChildSafeHandle"/>), not through a lease.
/// </summary>
internal readonly ref struct HandleLease
{
    private readonly SafeHandle? _handle;

    public HandleLease(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
    }

    /// <summary>The fd (or other value) of the leased handle; valid until <see cref="Dispose"/>.</summary>
    public int Fd => (int)_handle!.DangerousGetHandle();

    /// <summary>The raw value of the leased handle (an address, for a mapping).</summary>
    public IntPtr Value => _handle!.DangerousGetHandle();

    public void Dispose() => _handle?.DangerousRelease();
}

/// <summary>
/// Leases on several handles at once, all or none (the fds of one outgoing message). A class, so that it can live
/// across an await; <see cref="Dispose"/> releases once.
/// </summary>
internal sealed class HandleLeases : IDisposable
{
    private readonly SafeHandle[] _handles;
    private int _held;

    public HandleLeases(ReadOnlySpan<SafeHandle> handles)
    {
        _handles = handles.ToArray();
        Fds = new int[_handles.Length];
        AddRefAll(_handles, Fds);
        _held = _handles.Length;
    }

    /// <summary>The fds, in order; valid until <see cref="Dispose"/>.</summary>
    public int[] Fds { get; }

    /// <summary>
    /// References every handle of <paramref name="fds"/>, writing its fd to <paramref name="into"/>: all or none. A null
    /// or closed handle, or one that holds no fd (<see cref="FdHandles"/>), releases the ones before it and throws
    /// (ArgumentNullException, ArgumentException, ObjectDisposedException).
    /// </summary>
    public static void AddRefAll(ReadOnlySpan<SafeHandle> fds, Span<int> into)
    {
        int held = 0;
        try
        {
            for (; held < fds.Length; held++)
            {
                SafeHandle h = fds[held];
                FdHandles.ThrowIfNotFd(h, nameof(fds), held);
                bool added = false;
                h.DangerousAddRef(ref added);
                into[held] = (int)h.DangerousGetHandle();
            }
        }
        catch
        {
            for (int i = 0; i < held; i++)
            {
                fds[i].DangerousRelease();
            }

            throw;
        }
    }

    public void Dispose()
    {
        int held = Interlocked.Exchange(ref _held, 0);
        for (int i = 0; i < held; i++)
        {
            _handles[i].DangerousRelease();
        }
    }
}

/// <summary>
/// The SafeHandle types whose value this library reads as an fd: its own (<see cref="FileDescriptorHandle"/>: DmaBuf,
/// SyncFile, a device's file) and .NET's fd holders on Linux (SafeFileHandle, SafeSocketHandle, SafePipeHandle). Any
/// other SafeHandle holds something else (SafeProcessHandle a process id, SafeMemoryMappedViewHandle an address),
/// whose number read as an fd would name whatever file happens to have it. A type check, so the per-frame paths pay
/// a few compares, not a syscall.
/// </summary>
internal static class FdHandles
{
    /// <summary>Throws unless <paramref name="handle"/> is of a type that holds an fd (ArgumentNullException when null).</summary>
    /// <param name="handle">The caller's handle.</param>
    /// <param name="paramName">The parameter it came in.</param>
    /// <param name="index">Its index in that parameter, for a list of fds.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfNotFd([NotNull] SafeHandle? handle, string paramName, int index = -1)
    {
        // DmaBuf first: the per-frame case, and a sealed class, so one compare of its type; the base classes walk.
        if (handle is not (DmaBuf or FileDescriptorHandle or SafeFileHandle or SafeSocketHandle or SafePipeHandle))
        {
            ThrowNotFd(handle, paramName, index);
        }
    }

    [DoesNotReturn]
    private static void ThrowNotFd(SafeHandle? handle, string paramName, int index)
    {
        string what = index < 0 ? paramName : $"{paramName}[{index}]";
        if (handle is null)
        {
            throw new ArgumentNullException(paramName, $"{what} is null.");
        }

        throw new ArgumentException($"{what} is a {handle.GetType().Name}, which does not hold a file descriptor. Fds are taken from a " +
            "DmaBuf, a SyncFile, a SafeFileHandle, a SafeSocketHandle or a SafePipeHandle; wrap an fd of your own in new SafeFileHandle(fd, ownsHandle: false).", paramName);
    }
}
