using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// Sends and receives fds (dma-bufs, sync_files, any fd) with a payload over an AF_UNIX socket using SCM_RIGHTS,
/// which .NET does not offer itself. Works on stream and seqpacket sockets, also with SO_PASSCRED set (the
/// credentials are ignored) and SO_PASSPIDFD (the sender's pidfd that comes with each message is closed). The sender keeps its fds; received fds are close-on-exec (<c>MSG_CMSG_CLOEXEC</c>).
/// At most <see cref="MaxFdsPerMessage"/> fds per message.
/// </summary>
/// <remarks>
/// Exceptions, by category: bad arguments are <see cref="ArgumentException"/>s, thrown before any syscall; what a
/// peer sent that is not acceptable (more fds than allowed, a record larger than the buffer, an fd of the wrong
/// kind, a malformed description) is <see cref="InvalidDataException"/>, costs that message only, and closes its
/// fds; a transport error (the socket's own errno, in the call or in the wait before it) is a
/// <see cref="DrmException"/> (an <see cref="IOException"/>) naming the call and errno; a disposed socket is
/// <see cref="ObjectDisposedException"/>; cancellation is <see cref="OperationCanceledException"/>.
/// </remarks>
public static class UnixFdPassing
{
    /// <summary>The kernel's limit of fds in one message (<c>SCM_MAX_FD</c>).</summary>
    public const int MaxFdsPerMessage = ScmRights.SCM_MAX_FD;

    /// <summary>Sends <paramref name="payload"/> (at least one byte) with <paramref name="fds"/> in one sendmsg.</summary>
    /// <returns>The payload bytes sent; on a stream socket fewer than all may go, send the rest with <see cref="Socket.Send(ReadOnlySpan{byte})"/>.</returns>
    /// <exception cref="DrmException">sendmsg failed (for example EPIPE: the peer is gone).</exception>
    [SkipLocalsInit] // the control room's header, fds and padding are all written
    public static int SendWithFds(this Socket socket, ReadOnlySpan<byte> payload, params ReadOnlySpan<SafeHandle> fds)
    {
        Validate(socket, payload.Length, fds.Length);
        Unsafe.SkipInit(out ScmRights.SendRoom room);
        Lease s = LeaseSocketAndFds(socket.SafeHandle, fds, ScmRights.Fds(ref room, fds.Length)); // the fds go straight into the control message

        // No protected region from here to the leases' end: nothing in between throws (the syscalls report errno
        // values), and a P/Invoke inside one is not inlined. While the send buffer is full (EAGAIN: .NET may have made
        // the socket non-blocking) this thread waits with poll(2).
        int errno, sent;
        bool waiting = false;
        while (true)
        {
            errno = ScmRights.Send(s.Fd, payload, ref room, fds.Length, 0, out sent);
            if (errno != Errno.EAGAIN)
            {
                break;
            }

            errno = Libc.Poll(s.Fd, Libc.POLLOUT);
            if (errno != 0)
            {
                waiting = true;
                break;
            }
        }

        Leases.EndEach(fds);
        s.Dispose();
        if (errno != 0)
        {
            ThrowSendError(errno, waiting);
        }

        return sent;
    }

    /// <summary>Leases the socket and every fd, writing the fds to <paramref name="into"/>: all or none.</summary>
    private static Lease LeaseSocketAndFds(SafeHandle socket, ReadOnlySpan<SafeHandle> fds, Span<int> into)
    {
        var s = new Lease(socket);
        try
        {
            Leases.LeaseEach(fds, into);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    [DoesNotReturn]
    private static void ThrowSendError(int errno, bool waiting)
    {
        if (waiting)
        {
            ThrowHelper.Throw(errno, Libc.Operation.PollOut, "socket");
        }

        ThrowHelper.Throw(errno, ScmRights.SendOperation, "socket", hint: FdHint(errno));
    }

    /// <summary>
    /// Asynchronous <see cref="SendWithFds"/>; the fds are referenced until the message is sent. While the socket's
    /// send buffer is full it waits for the socket to become writable on the library's one readiness thread (epoll, as
    /// buffer fences are awaited), without a thread per wait and without polling on a timer.
    /// </summary>
    public static async ValueTask<int> SendWithFdsAsync(this Socket socket, ReadOnlyMemory<byte> payload, IReadOnlyList<SafeHandle> fds, CancellationToken cancellationToken = default)
    {
        SafeHandle[] handles = ArgumentCopy.AtMost(fds, MaxFdsPerMessage, nameof(fds)); // checked and sent: the copy, not what fds claims
        Validate(socket, payload.Length, handles.Length, nameof(fds));
        using var held = new Leases(handles);
        bool connected = socket.Connected;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int errno = TrySend(socket.SafeHandle, payload.Span, held.Fds, out int sent);

            if (errno == 0)
            {
                return sent;
            }

            if (errno != Errno.EAGAIN)
            {
                // A Socket's Dispose marks it disconnected first and shuts it down before its handle refuses new
                // calls: a send that got in between fails with EPIPE, which is the disposal's (as .NET's own sends
                // report their errors after a Dispose).
                ObjectDisposedException.ThrowIf(socket.SafeHandle.IsClosed || (connected && !socket.Connected), socket);
                ThrowHelper.Throw(errno, ScmRights.SendOperation, "socket", hint: FdHint(errno));
            }

            // The process's one readiness thread waits for room; an error or hang-up ends the wait and the next
            // sendmsg reports it with its real errno. The wait holds the socket, so the socket's Dispose shuts it down
            // (as it does under any call in progress): that ends the wait, and the next lease throws
            // ObjectDisposedException, releasing the fds.
            await FdPoller.Instance.WaitOnceAsync(socket.SafeHandle, Epoll.EPOLLOUT, "socket", errorIsReady: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One sendmsg, not waiting (MSG_DONTWAIT), of fds the caller holds: 0 or errno (EAGAIN: the buffer is full).</summary>
    [SkipLocalsInit] // the control room's header, fds and padding are all written
    private static int TrySend(SafeHandle socket, ReadOnlySpan<byte> payload, int[] fds, out int sent)
    {
        Unsafe.SkipInit(out ScmRights.SendRoom room);
        fds.CopyTo(ScmRights.Fds(ref room, fds.Length));
        using var s = new Lease(socket);
        return ScmRights.Send(s.Fd, payload, ref room, fds.Length, ScmRights.MSG_DONTWAIT, out sent);
    }

    /// <summary>
    /// Receives one message into <paramref name="buffer"/> with up to <paramref name="maxFds"/> fds: exactly one
    /// recvmsg, so on a seqpacket socket one record.
    /// </summary>
    /// <exception cref="InvalidDataException">The peer sent more fds than <paramref name="maxFds"/>, or a seqpacket
    /// record larger than the buffer (MSG_TRUNC); every fd that did arrive has been closed, and the next message is
    /// unaffected.</exception>
    /// <exception cref="DrmException">recvmsg (or the wait for data) failed; EMFILE (naming RLIMIT_NOFILE) when this
    /// process's fd table could not take the message's fds, which the kernel then dropped.</exception>
    [SkipLocalsInit] // the control room is read only as far as recvmsg wrote it
    public static ReceivedFds ReceiveWithFds(this Socket socket, Span<byte> buffer, int maxFds = MaxFdsPerMessage)
    {
        Validate(socket, buffer.Length, maxFds);
        ScmRights.ControlRoom room;
        int count, received;
        while (!TryReceiveInto(socket, buffer, maxFds, 0, out room, out count, out received))
        {
            WaitReadable(socket);
        }

        return ReceivedFds.Own(received, ScmRights.Fds(ref room, count));
    }

    /// <summary>Asynchronous <see cref="ReceiveWithFds"/>, cancellable; the same exceptions.</summary>
    public static async ValueTask<ReceivedFds> ReceiveWithFdsAsync(this Socket socket, Memory<byte> buffer, int maxFds = MaxFdsPerMessage, CancellationToken cancellationToken = default)
    {
        Validate(socket, buffer.Length, maxFds);
        byte[] peek = new byte[1];
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (TryReceive(socket, buffer.Span, maxFds, ScmRights.MSG_DONTWAIT) is { } received)
            {
                return received;
            }

            // Wait until a message is there by peeking at it: that consumes neither the bytes nor the fds.
            try
            {
                await socket.ReceiveAsync(peek, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                // The same transport error type as recvmsg's own (.NET reports the errno on Linux).
                throw DrmException.FromErrno(e.NativeErrorCode, $"{ScmRights.ReceiveOperation} wait", "socket");
            }
        }
    }

    /// <summary>
    /// Receives one message, as <see cref="ReceiveWithFds"/> does, and lends its fds to <paramref name="body"/> for the
    /// span of the call: nothing is allocated, and every fd the body did not take is closed when it returns or throws.
    /// For a per-frame receive loop; keep <see cref="ReceiveWithFds"/> where the fds outlive one call without being
    /// taken.
    /// </summary>
    /// <param name="socket">An AF_UNIX socket.</param>
    /// <param name="buffer">Receives the payload (one record, on a seqpacket socket).</param>
    /// <param name="maxFds">The most fds accepted in the message (0 to <see cref="MaxFdsPerMessage"/>).</param>
    /// <param name="state">Passed by reference to <paramref name="body"/>: its inputs and results.</param>
    /// <param name="body">Preferably a <c>static</c> lambda: one that captures nothing is allocated once.</param>
    /// <returns>The payload bytes received; 0 on a stream socket means the peer closed the connection.</returns>
    /// <exception cref="InvalidDataException">As <see cref="ReceiveWithFds"/>; the body is not called and every fd
    /// that arrived has been closed.</exception>
    /// <exception cref="DrmException">As <see cref="ReceiveWithFds"/>.</exception>
    [SkipLocalsInit] // the control room is read only as far as recvmsg wrote it
    public static int ReceiveScoped<TState>(this Socket socket, Span<byte> buffer, int maxFds, ref TState state, BorrowedReceivedFdsAction<TState> body)
        where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(body);
        Validate(socket, buffer.Length, maxFds);
        ScmRights.ControlRoom room;
        int count, received;
        while (!TryReceiveInto(socket, buffer, maxFds, 0, out room, out count, out received))
        {
            WaitReadable(socket);
        }

        // As DrmDevice.Lend: the finally closes only if the body threw, and the usual close follows the try. Both keep
        // their P/Invokes inline: the body's, which a catch would prevent, and this close, which a handler would.
        Span<int> lent = ScmRights.Fds(ref room, count);
        bool returned = false;
        try
        {
            body(new BorrowedReceivedFds(received, lent), ref state);
            returned = true;
        }
        finally
        {
            if (!returned)
            {
                BorrowedReceivedFds.CloseRemaining(lent);
            }
        }

        BorrowedReceivedFds.CloseRemaining(lent);
        return received;
    }

    /// <summary>Waits (poll) until the socket has a message; a failed wait throws.</summary>
    private static void WaitReadable(Socket socket)
    {
        using var s = new Lease(socket.SafeHandle);
        ThrowHelper.ThrowIfError(Libc.Poll(s.Fd, Libc.POLLIN), Libc.Operation.PollIn, "socket");
    }

    /// <summary>null when nothing is there yet (EAGAIN).</summary>
    [SkipLocalsInit] // the control room is read only as far as recvmsg wrote it
    private static ReceivedFds? TryReceive(Socket socket, Span<byte> buffer, int maxFds, int flags) =>
        TryReceiveInto(socket, buffer, maxFds, flags, out ScmRights.ControlRoom room, out int count, out int received)
            ? ReceivedFds.Own(received, ScmRights.Fds(ref room, count))
            : null;

    /// <summary>
    /// One recvmsg into <paramref name="room"/>, vetted: false on EAGAIN (no fds); on any error or refused message
    /// every fd that arrived is closed before the exception. On true, the <paramref name="count"/> fds of
    /// <see cref="ScmRights.Fds(ref ScmRights.ControlRoom, int)"/> are this process's, unchecked for kind.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryReceiveInto(Socket socket, Span<byte> buffer, int maxFds, int flags, out ScmRights.ControlRoom room, out int count, out int received)
    {
        // No protected region around the lease: Receive throws nothing, and a P/Invoke inside one is not inlined.
        var s = new Lease(socket.SafeHandle);
        int errno = ScmRights.Receive(s.Fd, buffer, maxFds, flags, out room, out received, out int msgFlags, out count);
        s.Dispose();
        if (errno == Errno.EAGAIN)
        {
            return false;
        }

        ThrowHelper.ThrowIfError(errno, ScmRights.ReceiveOperation, "socket"); // an error leaves no fds
        if ((msgFlags & (ScmRights.MSG_CTRUNC | ScmRights.MSG_TRUNC)) != 0 || count > maxFds)
        {
            Refuse(ScmRights.Fds(ref room, count), maxFds, msgFlags, buffer.Length);
        }

        return true;
    }

    /// <summary>Closes the fds of a message that cannot be taken and throws why.</summary>
    [DoesNotReturn]
    private static void Refuse(Span<int> fds, int maxFds, int msgFlags, int bufferLength)
    {
        int count = fds.Length;
        BorrowedReceivedFds.CloseRemaining(fds);
        if ((msgFlags & ScmRights.MSG_CTRUNC) != 0 && count < maxFds)
        {
            // Truncated with room to spare: the kernel failed to install an fd here (scm_detach_fds stops at the first
            // failure and drops the rest), so this process, not the peer, is the problem: almost always EMFILE.
            ThrowHelper.Throw(Errno.EMFILE, ScmRights.ReceiveOperation, "socket", hint:
                $"The kernel could install only {count} of the message's fds in this process (closed now) and dropped the rest; a security module refusing an fd looks the same");
        }

        string problem = (msgFlags & ScmRights.MSG_CTRUNC) != 0 || count > maxFds
            ? $"the peer sent more fds than the {maxFds} allowed{((msgFlags & ScmRights.MSG_CTRUNC) != 0 ? " (MSG_CTRUNC)" : "")}"
            : $"the message was larger than the {bufferLength}-byte buffer (MSG_TRUNC)";
        throw new InvalidDataException($"recvmsg: {problem}; the {count} fd(s) that arrived were closed.");
    }

    /// <summary>The arguments' checks (and the architecture's), inlined (a few compares); the throwing, with its messages, is not.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Validate(Socket socket, int bytes, int fds, [CallerArgumentExpression(nameof(fds))] string? fdsName = null)
    {
        Abi.ThrowIfUnsupported();
        if (socket is null || socket.AddressFamily != AddressFamily.Unix || bytes == 0 || (uint)fds > MaxFdsPerMessage)
        {
            ThrowInvalid(socket, bytes, fds, fdsName);
        }
    }

    [DoesNotReturn]
    private static void ThrowInvalid(Socket? socket, int bytes, int fds, string? fdsName)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (socket.AddressFamily != AddressFamily.Unix)
        {
            throw new ArgumentException($"fds travel only over AF_UNIX sockets, not {socket.AddressFamily}.", nameof(socket));
        }

        ArgumentOutOfRangeException.ThrowIfZero(bytes, "payload");
        ArgumentOutOfRangeException.ThrowIfNegative(fds, fdsName);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fds, MaxFdsPerMessage, fdsName);
        throw new UnreachableException();
    }

    private static string? FdHint(int errno) => errno switch
    {
        Errno.ETOOMANYREFS => "too many fds in flight on this socket (unix(7): ETOOMANYREFS)",
        Errno.EPIPE => "the peer closed the connection",
        _ => null,
    };
}
