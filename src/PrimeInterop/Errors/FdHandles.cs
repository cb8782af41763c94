using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PrimeInterop;

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
