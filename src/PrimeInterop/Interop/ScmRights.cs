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
    public const int SOL_SOCKET = 1, SCM_RIGHTS = 1, SCM_CREDENTIALS = 2, SO_PASSCRED = 16;
    public const int MSG_CTRUNC = 0x8, MSG_TRUNC = 0x20, MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000;

    /// <summary>The kernel's limit of fds in one SCM_RIGHTS message (include/net/scm.h).</summary>
    public const int SCM_MAX_FD = 253;

    /// <summary>The names <see cref="Send"/> and <see cref="Receive"/> go by in a <see cref="DrmException"/>.</summary>
    public const string SendOperation = "sendmsg(SCM_RIGHTS)", ReceiveOperation = "recvmsg(SCM_RIGHTS)";

    /// <summary>
    /// Control room beyond the fds: SCM_CREDENTIALS (struct ucred, 12 bytes), which the kernel adds to every message
    /// on a socket with SO_PASSCRED, before the fds, and room for an SCM_SECURITY label (SO_PASSSEC). Without it
    /// such a socket would truncate the fds of every message and look like a hostile peer.
    /// </summary>
    public static int ExtraControlSpace => CmsgSpace(12) + CmsgSpace(256);

    private static int CmsgAlign(int length) => (length + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);

    /// <summary>glibc: CMSG_ALIGN(sizeof(struct cmsghdr)) + len.</summary>
    public static int CmsgLen(int dataLength) => CmsgAlign(sizeof(cmsghdr)) + dataLength;

    /// <summary>glibc: CMSG_ALIGN(len) + CMSG_ALIGN(sizeof(struct cmsghdr)).</summary>
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

    /// <summary>One sendmsg with the fds in one SCM_RIGHTS control message. Returns 0 or errno.</summary>
    [SkipLocalsInit] // every byte of the control message is written below: header, fds, and the padding after them
    public static int Send(int socket, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds, int flags, out int sent)
    {
        int controlLength = fds.Length == 0 ? 0 : CmsgSpace(fds.Length * sizeof(int));
        byte* control = stackalloc byte[Math.Max(controlLength, sizeof(ulong))];
        *(ulong*)(control + Math.Max(controlLength, sizeof(ulong)) - sizeof(ulong)) = 0; // the padding (the fds overwrite the rest)
        fixed (byte* data = payload)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)payload.Length };
            var msg = new msghdr { msg_iov = &iov, msg_iovlen = 1 };
            if (fds.Length > 0)
            {
                var header = (cmsghdr*)control;
                header->cmsg_len = (nuint)CmsgLen(fds.Length * sizeof(int));
                header->cmsg_level = SOL_SOCKET;
                header->cmsg_type = SCM_RIGHTS;
                fds.CopyTo(new Span<int>(control + CmsgAlign(sizeof(cmsghdr)), fds.Length));
                msg.msg_control = control;
                msg.msg_controllen = (nuint)controlLength;
            }

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

    private static int ControlLength(int maxFds) => CmsgSpace(maxFds * sizeof(int)) + ExtraControlSpace;

    /// <summary>
    /// How many fds <see cref="Receive"/> can find in the control room it gives a message with
    /// <paramref name="maxFds"/>: every SCM_RIGHTS entry lies in that room, at 4 bytes an fd.
    /// </summary>
    public static int ReceiveFdCapacity(int maxFds) => ControlLength(maxFds) / sizeof(int);

    /// <summary>
    /// One recvmsg with room for <paramref name="maxFds"/> fds (0 to SCM_MAX_FD) and the other control messages a
    /// socket's options may add (ignored), received close-on-exec. Every fd that arrived is in <paramref name="fds"/>,
    /// also when the message was truncated, and possibly more than <paramref name="maxFds"/> (the caller checks and
    /// closes them). <paramref name="fds"/> has room for <see cref="ReceiveFdCapacity"/> fds. Returns 0 or errno.
    /// </summary>
    [SkipLocalsInit] // the control room is read only as far as the kernel wrote it (msg_controllen): no need to zero it
    public static int Receive(int socket, Span<byte> buffer, int maxFds, int flags, Span<int> fds, out int fdCount, out int received, out int msgFlags)
    {
        int controlLength = ControlLength(maxFds);
        fdCount = 0;
        byte* control = stackalloc byte[controlLength];
        fixed (byte* data = buffer)
        {
            var iov = new iovec { iov_base = data, iov_len = (nuint)buffer.Length };
            var msg = new msghdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = (nuint)controlLength };
            nint r;
            while (true)
            {
                r = SysRecvMsg(socket, &msg, flags | MSG_CMSG_CLOEXEC);
                if (r >= 0)
                {
                    break;
                }

                int errno = Marshal.GetLastSystemError();
                if (errno != Errno.EINTR)
                {
                    received = 0;
                    msgFlags = 0;
                    return errno;
                }
            }

            received = (int)r;
            msgFlags = msg.msg_flags;
            int headerSize = CmsgAlign(sizeof(cmsghdr));
            int controlReceived = (int)Math.Min(msg.msg_controllen, (nuint)controlLength);
            for (int offset = 0; offset + headerSize <= controlReceived;)
            {
                var header = (cmsghdr*)(control + offset);
                nuint length64 = header->cmsg_len;
                if (length64 < (nuint)headerSize || length64 > (nuint)(controlReceived - offset))
                {
                    break;
                }

                int length = (int)length64;
                if (length < headerSize)
                {
                    break;
                }

                if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
                {
                    int count = (length - headerSize) / sizeof(int);
                    new ReadOnlySpan<int>(control + offset + headerSize, count).CopyTo(fds[fdCount..]);
                    fdCount += count;
                }

                offset += CmsgAlign(length);
            }

            return 0;
        }
    }

    // The per-message syscalls of fd passing, bound like ioctl and close (Ioctl.cs): no SetLastError stub, errno read
    // with Marshal.GetLastSystemError only when the call returned -1.
    [LibraryImport("libc.so.6", EntryPoint = "sendmsg")]
    private static partial nint SysSendMsg(int socket, msghdr* msg, int flags);

    [LibraryImport("libc.so.6", EntryPoint = "recvmsg")]
    private static partial nint SysRecvMsg(int socket, msghdr* msg, int flags);
}
