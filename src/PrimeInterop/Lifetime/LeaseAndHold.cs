using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PrimeInterop;

// The library's two ways to hold a reference, and the only code that counts SafeHandle references by hand:
// - a Lease keeps what a call works on alive for that call: an fd cannot be closed (and its number reused by another
//   file) under the syscall, a GEM handle cannot be closed under the ioctl;
// - a Hold keeps a child's parent alive for the child's whole life: a mapping's dma-buf, a framebuffer's DRM file, a
//   GemHandle's device (the shape of System.Net.Quic's MsQuicSafeHandle).
// Either takes its reference on a SafeHandle (the runtime's count) or on one of the library's own objects that are not
// SafeHandles (IHoldable: their own HolderCount). See docs/architecture.md.

/// <summary>
/// One of the library's own objects whose holders it counts itself, with a <see cref="HolderCount"/>: a
/// <see cref="DrmDevice"/>'s file, a <see cref="GemHandle"/>, a <see cref="ReceivedFds"/>. Its own hold ends with its
/// Dispose; what it owns is released when the last hold ends. Leases and holds do the counting; the object says only
/// where its count is and what its release is.
/// </summary>
internal interface IHoldable
{
    /// <summary>The count of its holders: its own, each lease, each child's hold.</summary>
    ref HolderCount Holders { get; }

    /// <summary>Releases what the object owns; runs once, when the last hold ends after Dispose.</summary>
    void Release();

    /// <summary>Throws the exception that a lease on the disposed object gets (ObjectDisposedException, naming it).</summary>
    [DoesNotReturn]
    void ThrowDisposed();
}

/// <summary>
/// A reference on a SafeHandle's fd for the length of one call (ObjectDisposedException once it is closed). Every
/// syscall on an fd that the library did not just make runs inside one.
/// </summary>
internal readonly ref struct Lease
{
    private readonly SafeHandle _handle;

    public Lease(SafeHandle handle)
    {
        bool added = false;
        handle.DangerousAddRef(ref added);
        _handle = handle;
    }

    /// <summary>The leased fd; valid until <see cref="Dispose"/>.</summary>
    public int Fd => (int)_handle.DangerousGetHandle();

    /// <summary>Ends the lease (the last reference, after the owner's Dispose, closes the fd).</summary>
    public void Dispose() => _handle?.DangerousRelease();

    /// <summary>Ends one hold on <paramref name="holder"/>: the last one after its Dispose releases it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void End(IHoldable holder)
    {
        if (holder.Holders.EndHold())
        {
            holder.Release();
        }
    }
}

/// <summary>
/// A reference on one of the library's own objects for the length of one call (ObjectDisposedException once it is
/// disposed): a device's file under a device operation, a GEM handle under an ioctl on it. It keeps a reference to the
/// object's count, so that on the per-frame paths both ends are inlined atomics: the JIT devirtualizes the object's
/// interface where the lease is taken (its type is known there) but not where a field of type T is read back.
/// </summary>
internal readonly ref struct Lease<T>
    where T : class, IHoldable
{
    private readonly ref HolderCount _count;
    private readonly T _holder;

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // the per-frame paths: one compare-exchange, no call
    public Lease(T holder)
    {
        ref HolderCount count = ref holder.Holders;
        if (!count.TryHold())
        {
            holder.ThrowDisposed();
        }

        _count = ref count;
        _holder = holder;
    }

    /// <summary>Ends the lease (the last hold, after the object's Dispose, releases it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose()
    {
        if (_count.EndHold())
        {
            _holder.Release();
        }
    }
}

/// <summary>
/// Leases on several SafeHandles at once, all or none: the fds of one outgoing message. A class, so that it can live
/// across an await; <see cref="Dispose"/> ends them once.
/// </summary>
internal sealed class Leases : IDisposable
{
    private readonly SafeHandle[] _handles;
    private int _held;

    /// <summary>Leases each of <paramref name="handles"/> (see <see cref="LeaseEach"/>).</summary>
    public Leases(SafeHandle[] handles)
    {
        _handles = handles;
        Fds = new int[handles.Length];
        LeaseEach(handles, Fds);
        _held = handles.Length;
    }

    /// <summary>The fds, in order; valid until <see cref="Dispose"/>.</summary>
    public int[] Fds { get; }

    /// <summary>
    /// References every one of <paramref name="fds"/>, writing its fd to <paramref name="into"/>: all or none. A null or
    /// closed handle, or one that holds no fd (<see cref="FdHandles"/>), ends the leases taken before it and throws
    /// (ArgumentNullException, ArgumentException, ObjectDisposedException). The caller ends them with <see cref="EndEach"/>.
    /// </summary>
    public static void LeaseEach(ReadOnlySpan<SafeHandle> fds, Span<int> into)
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
            EndEach(fds[..held]);
            throw;
        }
    }

    /// <summary>Ends the leases <see cref="LeaseEach"/> took.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EndEach(ReadOnlySpan<SafeHandle> fds)
    {
        foreach (SafeHandle h in fds)
        {
            h.DangerousRelease();
        }
    }

    public void Dispose() => EndEach(_handles.AsSpan(0, Interlocked.Exchange(ref _held, 0)));
}

/// <summary>
/// A child's reference on its parent for the child's whole life: taken when the child is made, ended exactly once when
/// the child is released (the child guarantees the once). A field of the child.
/// </summary>
internal struct Hold
{
    private SafeHandle? _handle;
    private IHoldable? _holder;

    /// <summary>A hold on a SafeHandle parent (ObjectDisposedException once it is closed); its fd is then <see cref="ParentFd"/>.</summary>
    public static Hold On(SafeHandle parent)
    {
        bool added = false;
        parent.DangerousAddRef(ref added);
        return new Hold { _handle = parent, ParentFd = (int)parent.DangerousGetHandle() };
    }

    /// <summary>One more hold on a parent the caller holds already (a lease, or a hold of its own), so it cannot have been released.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Hold Also(IHoldable parent)
    {
        parent.Holders.AddHold();
        return new Hold { _holder = parent };
    }

    /// <summary>The fd of a SafeHandle parent: its value cannot change while it is held.</summary>
    public int ParentFd { get; private init; }

    /// <summary>Ends the hold: the parent may be released now, if its owner disposed it and nothing else holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void End()
    {
        if (_holder is { } holder)
        {
            _holder = null;
            Lease.End(holder);
        }
        else if (_handle is { } handle)
        {
            _handle = null;
            handle.DangerousRelease();
        }
    }
}
