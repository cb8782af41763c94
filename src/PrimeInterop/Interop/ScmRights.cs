using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// The structs keep the kernel/glibc names (all lower case) so the layout probe and a reader match them to the headers.
#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>
/// sendmsg/recvmsg with SCM_RIGHTS (unix(7), cmsg(3)). CMSG_LEN and CMSG_SPACE are computed here, as glibc does:
/// Tmds.LibC 0.5.0's CMSG_LEN aligns the whole length, which for one fd makes the kernel read a second, zero fd.
/// </summary>
internal static unsafe partial class ScmRights
{
    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1, SCM_CREDENTIALS = 2, SCM_PIDFD = 4, SO_PASSCRED = 16, SO_PASSPIDFD = 76;
    public const int MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>The kernel's limit of fds in one SCM_RIGHTS message (include/net/scm.h).</summary>
    public const int SCM_MAX_FD = 253;

    /// <summary>The names sendmsg and recvmsg with fds go by in a <see cref="DrmException"/>.</summary>
    public const string SendOperation = "sendmsg(SCM_RIGHTS)", ReceiveOperation = "recvmsg(SCM_RIGHTS)";

    /// <summary>
    /// Control room beyond the fds: SCM_CREDENTIALS (struct ucred, 12 bytes), which the kernel adds to every message
    /// on a socket with SO_PASSCRED, before the fds, SCM_PIDFD (one fd, after them) on a socket with SO_PASSPIDFD
    /// (Linux 6.5), and room for an SCM_SECURITY label (SO_PASSSEC). Without it such a socket would truncate the fds of
    /// every message and look like a hostile peer.
    /// </summary>
    public static int ExtraControlSpace
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => CmsgSpace(12) + CmsgSpace(sizeof(int)) + CmsgSpace(256);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CmsgAlign(int length) => (length + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);

    /// <summary>glibc: CMSG_ALIGN(sizeof(struct cmsghdr)) + len.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CmsgLen(int dataLength) => CmsgAlign(sizeof(cmsghdr)) + dataLength;

    /// <summary>glibc: CMSG_ALIGN(len) + CMSG_ALIGN(sizeof(struct cmsghdr)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CmsgSpace(int dataLength) => CmsgAlign(dataLength) + CmsgAlign(sizeof(cmsghdr));

    [StructLayout(LayoutKind.Sequential)]
    public struct cmsghdr
    {
        public nuint cmsg_len;
        public int cmsg_level;
        public int cmsg_type;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct msghdr
    {
        public void* msg_name;
        public uint msg_namelen;
        public iovec* msg_iov;
        public nuint msg_iovlen;
        public void* msg_control;
        public nuint msg_controllen;
        public int msg_flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct iovec
    {
        public void* iov_base;
        public nuint iov_len;
    }

    // The per-message calls (Send, and Receive, each inlined into its caller) make their syscall in the caller's frame,
    // with the fds written into and read from the control message itself: every further method that makes a P/Invoke
    // sets up a P/Invoke frame on each call.

    /// <summary>The control room of a message that carries <paramref name="fdCount"/> fds: 0 for none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SendControlLength(int fdCount) => fdCount == 0 ? 0 : CmsgSpace(fdCount * sizeof(int));

    /// <summary>The control room of an outgoing message: SCM_MAX_FD fds and their header, on the sender's stack.</summary>
    [InlineArray(MaxSendControlLength / sizeof(ulong))]
    public struct SendRoom
    {
        private ulong _element;
    }

    /// <summary><see cref="SendControlLength"/> of SCM_MAX_FD.</summary>
    public const int MaxSendControlLength = 1032;

    /// <summary>Where <paramref name="fdCount"/> fds go in <paramref name="room"/>: after the one cmsghdr.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Span<int> Fds(ref SendRoom room, int fdCount) =>
        MemoryMarshal.Cast<ulong, int>((Span<ulong>)room).Slice(CmsgAlign(sizeof(cmsghdr)) / sizeof(int), fdCount);

    /// <summary>
    /// One sendmsg of <paramref name="payload"/> with the <paramref name="fdCount"/> fds already in
    /// <paramref name="room"/> (<see cref="Fds(ref SendRoom, int)"/>); EINTR is retried. Returns 0 or errno.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Send(int socket, ReadOnlySpan<byte> payload, ref SendRoom room, int fdCount, int flags, out int sent)
    {
        fixed (SendRoom* control = &room)
        {
            return Send(socket, payload, (byte*)control, fdCount, flags, out sent);
        }
    }

    /// <summary>Where the fds go in a control room: after the one cmsghdr.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int* FdsOf(byte* control) => (int*)(control + CmsgAlign(sizeof(cmsghdr)));

    /// <summary>One sendmsg with the fds already in <paramref name="control"/> (see <see cref="FdsOf"/>): 0 or errno.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Send(int socket, ReadOnlySpan<byte> payload, byte* control, int fdCount, int flags, out int sent)
    {
        if (fdCount > 0)
        {
            var header = (cmsghdr*)control;
            header->cmsg_len = (nuint)CmsgLen(fdCount * sizeof(int));
            header->cmsg_level = SOL_SOCKET;
            header->cmsg_type = SCM_RIGHTS;
            if ((fdCount & 1) != 0)
            {
                FdsOf(control)[fdCount] = 0; // the padding after an odd count (CMSG_SPACE rounds up to 8 bytes)
            }
        }

        fixed (byte* data = payload)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)payload.Length };
            var msg = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = fdCount > 0 ? control : null, msg_controllen = (nuint)SendControlLength(fdCount) };
            while (true)
            {
                nint r = SysSendMsg(socket, &msg, flags | MSG_NOSIGNAL);
                if (r >= 0)
                {
                    sent = (int)r;
                    return 0;
                }

                int errno = Marshal.GetLastSystemError();
                if (errno != Errno.EINTR)
                {
                    sent = 0;
                    return errno;
                }
            }
        }
    }

    /// <summary>
    /// The control room for a message with up to <paramref name="maxFds"/> fds (0 to SCM_MAX_FD) and the other control
    /// messages a socket's options may add (ignored).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReceiveControlLength(int maxFds) => CmsgSpace(maxFds * sizeof(int)) + ExtraControlSpace;

    /// <summary><see cref="ReceiveControlLength"/> of SCM_MAX_FD: 1,032 bytes of fds and headers, 328 of the rest.</summary>
    public const int MaxReceiveControlLength = 1360;

    /// <summary>
    /// A message's control room, on the receiver's stack: a local of the method that uses the fds, which
    /// <see cref="Receive"/> fills and <see cref="Fds(ref ControlRoom, int)"/> reads (never zeroed: read only as far as the kernel wrote it).
    /// 8-byte elements, for cmsghdr's alignment.
    /// </summary>
    [InlineArray(MaxReceiveControlLength / sizeof(ulong))]
    public struct ControlRoom
    {
        private ulong _element;
    }

    /// <summary>
    /// One recvmsg into <paramref name="buffer"/> with room for <paramref name="maxFds"/> fds (0 to SCM_MAX_FD) and
    /// the control messages a socket's options may add, fds received close-on-exec; EINTR is retried. Returns 0 or
    /// errno. On 0, <see cref="Fds(ref ControlRoom, int)"/>(room, <paramref name="fdCount"/>) are every fd that arrived,
    /// this process's now: also when the message was truncated, and possibly more than <paramref name="maxFds"/> (the
    /// caller checks and closes them).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Receive(int socket, Span<byte> buffer, int maxFds, int flags, out ControlRoom room, out int received, out int msgFlags, out int fdCount)
    {
        Unsafe.SkipInit(out room);
        int controlLength = Math.Min(ReceiveControlLength(maxFds), MaxReceiveControlLength);
        int errno;
        int controlReceived = 0;
        received = msgFlags = 0;
        fixed (ControlRoom* room0 = &room)
        fixed (byte* data = buffer)
        {
            var control = (byte*)room0;
            var iov = new iovec { iov_base = data, iov_len = (nuint)buffer.Length };
            var msg = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = (nuint)controlLength };
            while (true)
            {
                nint r = SysRecvMsg(socket, &msg, flags | MSG_CMSG_CLOEXEC);
                if (r >= 0)
                {
                    errno = 0; // an EINTR before this one is not this call's result
                    received = (int)r;
                    msgFlags = msg.msg_flags;
                    controlReceived = (int)Math.Min(msg.msg_controllen, (nuint)controlLength);
                    break;
                }

                errno = Marshal.GetLastSystemError();
                if (errno != Errno.EINTR)
                {
                    break;
                }
            }

            fdCount = errno == 0 ? GatherRights(control, controlReceived) : 0;
        }

        return errno;
    }

    /// <summary>The first <paramref name="count"/> fds in a room <see cref="Receive"/> filled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Span<int> Fds(ref ControlRoom room, int count) => MemoryMarshal.Cast<ulong, int>((Span<ulong>)room)[..count];

    /// <summary>
    /// Moves the fds of every SCM_RIGHTS entry in <paramref name="control"/>[..<paramref name="controlReceived"/>] to
    /// the start of <paramref name="control"/>, in order, and returns how many there are; closes the fd of an
    /// SCM_PIDFD entry (the sender's pidfd, on a socket with SO_PASSPIDFD), the one other control message that carries
    /// an fd (SCM_CREDENTIALS and SCM_SECURITY carry none). Each entry's header is read before any fd is written over
    /// it, and no fd moves up, so the move is in place.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int GatherRights(byte* control, int controlReceived)
    {
        int headerSize = CmsgAlign(sizeof(cmsghdr));
        int* fds = (int*)control;
        int count = 0;
        for (int offset = 0; offset + headerSize <= controlReceived;)
        {
            var header = (cmsghdr*)(control + offset);
            nuint length64 = header->cmsg_len;
            if (length64 < (nuint)headerSize || length64 > (nuint)(controlReceived - offset))
            {
                break;
            }

            int length = (int)length64;
            if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
            {
                int* from = (int*)(control + offset + headerSize);
                for (int i = 0, n = (length - headerSize) / sizeof(int); i < n; i++)
                {
                    fds[count++] = from[i];
                }
            }
            else if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_PIDFD)
            {
                ClosePidFds((int*)(control + offset + headerSize), (length - headerSize) / sizeof(int));
            }

            offset += CmsgAlign(length);
        }

        return count;
    }

    /// <summary>Out of line: only sockets with SO_PASSPIDFD get here, and a P/Invoke inlined into the receive would cost every message.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ClosePidFds(int* fds, int count)
    {
        for (int i = 0; i < count; i++)
        {
            _ = Libc.Close(fds[i]);
        }
    }

    // The per-message syscalls of fd passing, bound like ioctl and close (Ioctl.cs): no SetLastError stub, errno read
    // with Marshal.GetLastSystemError only when the call returned -1.
    [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg")]
    private static partial nint SysSendMsg(int socket, msghdr* msg, int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "recvmsg")]
    private static partial nint SysRecvMsg(int socket, msghdr* msg, int flags);
}
