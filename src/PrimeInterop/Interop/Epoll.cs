using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Tmds.Linux;

#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>epoll(7): what the readiness poller's one thread waits with.</summary>
internal static unsafe partial class Epoll
{
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const uint EPOLLIN = 0x001, EPOLLOUT = 0x004, EPOLLERR = 0x008, EPOLLHUP = 0x010, EPOLLONESHOT = 1u << 30;

    /// <summary>
    /// struct epoll_event as x86-64 lays it out: packed (12 bytes), no padding between events and data. It is also the
    /// form <see cref="Wait"/> hands events back in on every architecture.
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    public struct epoll_event
    {
        public uint events;
        public ulong data;
    }

    /// <summary>
    /// struct epoll_event on aarch64 (and every architecture but x86-64): naturally aligned, 16 bytes. An epoll_wait
    /// into <see cref="epoll_event"/>s there would write past every event but the first.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct epoll_event_arm64
    {
        public uint events;
        public ulong data;
    }

    /// <summary>The most events one <see cref="Wait"/> returns where the kernel's layout is not <see cref="epoll_event"/>'s.</summary>
    private const int MaxUnpackedEvents = 64;

    public static int Create(out int fd)
    {
        fd = LibC.epoll_create1(EPOLL_CLOEXEC);
        return fd == -1 ? Marshal.GetLastPInvokeError() : 0;
    }

    public static int Add(int epfd, int fd, uint events, ulong data) => Control(epfd, EPOLL_CTL_ADD, fd, events, data);

    // The event is ignored, but kernels before 2.6.9 wanted a non-null pointer.
    public static int Delete(int epfd, int fd) => Control(epfd, EPOLL_CTL_DEL, fd, 0, 0);

    /// <summary>EPOLL_CTL_ADD, _MOD (a wait re-armed: one per wait) or _DEL. Returns 0 or the errno.</summary>
    public static int Control(int epfd, int op, int fd, uint events, ulong data)
    {
        int r;
        if (Abi.IsX64)
        {
            var ev = new epoll_event { events = events, data = data };
            r = SysControl(epfd, op, fd, &ev);
        }
        else
        {
            var ev = new epoll_event_arm64 { events = events, data = data };
            r = SysControl(epfd, op, fd, &ev);
        }

        return r == -1 ? Marshal.GetLastSystemError() : 0;
    }

    /// <summary>
    /// epoll_wait, retried on EINTR. Returns 0 or the errno, with the number of events in <paramref name="count"/>. On
    /// x86-64 the kernel writes straight into <paramref name="events"/>; elsewhere at most
    /// <see cref="MaxUnpackedEvents"/> are read into the kernel's layout and copied out.
    /// </summary>
    public static int Wait(int epfd, Span<epoll_event> events, int timeoutMs, out int count)
    {
        if (!Abi.IsX64)
        {
            return WaitUnpacked(epfd, events, timeoutMs, out count);
        }

        fixed (epoll_event* p = events)
        {
            return WaitRetried(epfd, p, events.Length, timeoutMs, out count);
        }
    }

    [SkipLocalsInit] // the kernel writes every event it reports, and only those are read
    private static int WaitUnpacked(int epfd, Span<epoll_event> events, int timeoutMs, out int count)
    {
        epoll_event_arm64* native = stackalloc epoll_event_arm64[MaxUnpackedEvents];
        int errno = WaitRetried(epfd, native, Math.Min(events.Length, MaxUnpackedEvents), timeoutMs, out count);
        for (int i = 0; i < count; i++)
        {
            events[i] = new epoll_event { events = native[i].events, data = native[i].data };
        }

        return errno;
    }

    private static int WaitRetried(int epfd, void* events, int maxEvents, int timeoutMs, out int count)
    {
        while (true)
        {
            count = SysWait(epfd, events, maxEvents, timeoutMs);
            if (count >= 0)
            {
                return 0;
            }

            int errno = Marshal.GetLastSystemError();
            count = 0;
            if (errno != Errno.EINTR)
            {
                return errno;
            }
        }
    }

    // On every wait (the re-arm, and the poller's wake-up), so bound as the other hot syscalls are (Libraries): no
    // SetLastError stub, errno read with GetLastSystemError as the first thing after a -1. The event's layout is the
    // architecture's (the callers above pass the right one).
    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_ctl")]
    private static partial int SysControl(int epfd, int op, int fd, void* ev);

    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_wait")]
    private static partial int SysWait(int epfd, void* events, int maxEvents, int timeoutMs);
}
