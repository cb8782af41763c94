using System.Net.Sockets;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// Sends and receives fds (dma-bufs, sync_files, any fd) with a payload over an AF_UNIX socket using SCM_RIGHTS,
/// which .NET does not offer itself. Works on stream and seqpacket sockets. The sender keeps its fds; received
/// fds are close-on-exec (<c>MSG_CMSG_CLOEXEC</c>). At most <see cref="MaxFdsPerMessage"/> fds per message.
/// </summary>
public static class UnixFdPassing
{
    /// <summary>The kernel's limit of fds in one message (<c>SCM_MAX_FD</c>).</summary>
    public const int MaxFdsPerMessage = ScmRights.SCM_MAX_FD;

    /// <summary>Sends <paramref name="payload"/> (at least one byte) with <paramref name="fds"/> in one sendmsg.</summary>
    /// <returns>The payload bytes sent; on a stream socket fewer than all may go, send the rest with <see cref="Socket.Send(ReadOnlySpan{byte})"/>.</returns>
    public static int SendWithFds(this Socket socket, ReadOnlySpan<byte> payload, params ReadOnlySpan<SafeHandle> fds)
    {
        Validate(socket, payload.Length, fds.Length);
        using var s = new HandleLease(socket.SafeHandle); // first: if it throws, no fd has been referenced yet
        Span<int> raw = fds.Length <= 16 ? stackalloc int[16] : new int[fds.Length]; // per-frame sends allocate nothing
        raw = raw[..fds.Length];
        AddRefs(fds, raw);
        try
        {
            while (true)
            {
                int errno = ScmRights.Send(s.Fd, payload, raw, 0, out int sent);
                if (errno == 0)
                {
                    return sent;
                }

                if (errno != Errno.EAGAIN)
                {
                    ThrowHelper.Throw(errno, "sendmsg(SCM_RIGHTS)", "socket", hint: FdHint(errno));
                }

                socket.Poll(-1, SelectMode.SelectWrite); // .NET may have made the socket non-blocking
            }
        }
        finally
        {
            ReleaseRefs(fds);
        }
    }

    /// <summary>Asynchronous <see cref="SendWithFds"/>; the fds are referenced until the message is sent.</summary>
    public static async ValueTask<int> SendWithFdsAsync(this Socket socket, ReadOnlyMemory<byte> payload, IReadOnlyList<SafeHandle> fds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fds);
        Validate(socket, payload.Length, fds.Count);
        SafeHandle[] handles = [.. fds];
        int[] raw = new int[handles.Length];
        AddRefs(handles, raw);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int errno;
                int sent;
                using (var s = new HandleLease(socket.SafeHandle))
                {
                    errno = ScmRights.Send(s.Fd, payload.Span, raw, ScmRights.MSG_DONTWAIT, out sent);
                }

                if (errno == 0)
                {
                    return sent;
                }

                if (errno != Errno.EAGAIN)
                {
                    ThrowHelper.Throw(errno, "sendmsg(SCM_RIGHTS)", "socket", hint: FdHint(errno));
                }

                // The send buffer is full; the peer is slow. Wait for room without blocking a thread for long.
                await Task.Delay(1, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ReleaseRefs(handles);
        }
    }

    /// <summary>
    /// Receives one message into <paramref name="buffer"/> with up to <paramref name="maxFds"/> fds.
    /// </summary>
    /// <exception cref="IOException">The peer sent more fds than <paramref name="maxFds"/> (MSG_CTRUNC), or a
    /// seqpacket message larger than the buffer (MSG_TRUNC); every fd that did arrive has been closed.</exception>
    public static ReceivedFds ReceiveWithFds(this Socket socket, Span<byte> buffer, int maxFds = MaxFdsPerMessage)
    {
        Validate(socket, buffer.Length, maxFds);
        while (true)
        {
            if (TryReceive(socket, buffer, maxFds, 0) is { } received)
            {
                return received;
            }

            socket.Poll(-1, SelectMode.SelectRead);
        }
    }

    /// <summary>Asynchronous <see cref="ReceiveWithFds"/>, cancellable.</summary>
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
            await socket.ReceiveAsync(peek, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>null when nothing is there yet (EAGAIN).</summary>
    private static ReceivedFds? TryReceive(Socket socket, Span<byte> buffer, int maxFds, int flags)
    {
        var fds = new List<int>();
        int errno;
        int received;
        int msgFlags;
        using (var s = new HandleLease(socket.SafeHandle))
        {
            errno = ScmRights.Receive(s.Fd, buffer, maxFds, flags, fds, out received, out msgFlags);
        }

        if (errno == Errno.EAGAIN)
        {
            return null;
        }

        ThrowHelper.ThrowIfError(errno, "recvmsg(SCM_RIGHTS)", "socket");
        if ((msgFlags & (ScmRights.MSG_CTRUNC | ScmRights.MSG_TRUNC)) != 0)
        {
            foreach (int fd in fds)
            {
                Libc.Close(fd);
            }

            throw new IOException((msgFlags & ScmRights.MSG_CTRUNC) != 0
                ? $"recvmsg: the peer sent more fds than the {maxFds} allowed (MSG_CTRUNC); the {fds.Count} that arrived were closed."
                : $"recvmsg: the message was larger than the {buffer.Length}-byte buffer (MSG_TRUNC); its {fds.Count} fds were closed.");
        }

        return new ReceivedFds(received, [.. fds]);
    }

    private static void Validate(Socket socket, int bytes, int fds)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (socket.AddressFamily != AddressFamily.Unix)
        {
            throw new ArgumentException($"fds travel only over AF_UNIX sockets, not {socket.AddressFamily}.", nameof(socket));
        }

        ArgumentOutOfRangeException.ThrowIfZero(bytes, "payload");
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fds, MaxFdsPerMessage);
    }

    private static void AddRefs(ReadOnlySpan<SafeHandle> handles, Span<int> raw)
    {
        int added = 0;
        try
        {
            for (; added < handles.Length; added++)
            {
                bool ok = false;
                handles[added].DangerousAddRef(ref ok);
                raw[added] = (int)handles[added].DangerousGetHandle();
            }
        }
        catch
        {
            ReleaseRefs(handles[..added]);
            throw;
        }
    }

    private static void ReleaseRefs(ReadOnlySpan<SafeHandle> handles)
    {
        foreach (SafeHandle h in handles)
        {
            h.DangerousRelease();
        }
    }

    private static string? FdHint(int errno) => errno switch
    {
        Errno.ETOOMANYREFS => "too many fds in flight on this socket (unix(7): ETOOMANYREFS)",
        Errno.EPIPE => "the peer closed the connection",
        _ => null,
    };
}
