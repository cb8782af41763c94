using System.Runtime.InteropServices;
using Tmds.Linux;

#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>epoll(7), and poll(2) with a zero timeout: what the readiness poller's one thread waits with.</summary>
internal static unsafe class Epoll
{
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 0x001, EPOLLOUT = 0x004, EPOLLERR = 0x008, EPOLLHUP = 0x010, EPOLLONESHOT = 1u << 30;

    /// <summary>struct epoll_event is packed on x86-64 (12 bytes): no padding between events and data.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct epoll_event
    {
        public uint events;
        public ulong data;
    }

    public static int Create(out int fd)
    {
        fd = LibC.epoll_create1(EPOLL_CLOEXEC);
        return fd == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int Add(int epfd, int fd, uint events, ulong data)
    {
        var ev = new epoll_event { events = events, data = data };
        return LibC.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, (Tmds.Linux.epoll_event*)&ev) == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int Delete(int epfd, int fd)
    {
        var ev = default(epoll_event); // ignored, but kernels before 2.6.9 wanted a non-null pointer
        return LibC.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, (Tmds.Linux.epoll_event*)&ev) == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>epoll_wait, retried on EINTR. Returns the number of events, or -errno.</summary>
    public static int Wait(int epfd, Span<epoll_event> events, int timeoutMs)
    {
        fixed (epoll_event* p = events)
        {
            while (true)
            {
                int n = LibC.epoll_wait(epfd, (Tmds.Linux.epoll_event*)p, events.Length, timeoutMs);
                if (n >= 0)
                {
                    return n;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR)
                {
                    return -errno;
                }
            }
        }
    }

    /// <summary>poll(2) on one fd with a zero timeout: the events that are ready right now, or -errno.</summary>
    public static int PollNow(int fd, short events)
    {
        var p = new pollfd { fd = fd, events = events };
        int n = Libc.poll(&p, 1, 0); // not Tmds.LibC's: it has no SetLastError, and its errno would be stale
        return n == -1 ? -Marshal.GetLastPInvokeError() : n == 0 ? 0 : p.revents;
    }
}
