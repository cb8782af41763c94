using System.Runtime.InteropServices;

namespace PrimeInterop.Bench;

/// <summary>
/// The floor of the SafeHandle API: the raw ioctls (bound like the library's, no SetLastError) plus exactly one
/// bare SafeHandle per result, with no table, lease or argument check. The API cannot be cheaper than this without
/// dropping the SafeHandle, so a target this floor misses is out of the SafeHandle API's reach.
/// </summary>
internal static unsafe partial class Floor
{
    private const nuint HandleToFd = 0xc00c642d, FdToHandle = 0xc00c642e, GemClose = 0x40086409;
    private const uint DrmCloexec = 0x80000;

    public static void Export(int card, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var fd = new FdHandle(ExportFd(card, handle));
        }
    }

    public static void RoundTrip(int card, int render, uint handle, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var fd = new FdHandle(ExportFd(card, handle));
            using var h = new GemCloseHandle(render, Import(render, (int)fd.DangerousGetHandle()));
        }
    }

    /// <summary>A duplicate import: the handle is the held one, so its SafeHandle closes nothing (the table's job).</summary>
    public static void DupImport(int render, int dmaBuf, int n)
    {
        for (int i = 0; i < n; i++)
        {
            using var h = new NoCloseHandle(Import(render, dmaBuf));
        }
    }

    private static int ExportFd(int card, uint handle)
    {
        var arg = new PrimeHandle { Handle = handle, Flags = DrmCloexec, Fd = -1 };
        Check(Sys(card, HandleToFd, &arg));
        return arg.Fd;
    }

    private static uint Import(int render, int fd)
    {
        var arg = new PrimeHandle { Fd = fd };
        Check(Sys(render, FdToHandle, &arg));
        return arg.Handle;
    }

    private static void Check(int r)
    {
        if (r == -1)
        {
            throw new InvalidOperationException($"floor: ioctl failed, errno {Marshal.GetLastSystemError()}");
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "ioctl")]
    private static partial int Sys(int fd, nuint request, void* arg);

    [LibraryImport("libc.so.6", EntryPoint = "close")]
    private static partial int SysClose(int fd);

    [StructLayout(LayoutKind.Sequential)]
    private struct PrimeHandle
    {
        public uint Handle;
        public uint Flags;
        public int Fd;
    }

    private sealed class FdHandle : SafeHandle
    {
        public FdHandle(int fd)
            : base(-1, ownsHandle: true) => SetHandle(fd);

        public override bool IsInvalid => handle < 0;

        protected override bool ReleaseHandle() => SysClose((int)handle) == 0;
    }

    private sealed class GemCloseHandle : SafeHandle
    {
        private readonly int _device;

        public GemCloseHandle(int device, uint handle)
            : base(0, ownsHandle: true)
        {
            _device = device;
            SetHandle((nint)handle);
        }

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle()
        {
            ulong arg = (uint)handle; // struct drm_gem_close { u32 handle; u32 pad; }
            return Sys(_device, GemClose, &arg) == 0;
        }
    }

    private sealed class NoCloseHandle : SafeHandle
    {
        public NoCloseHandle(uint handle)
            : base(0, ownsHandle: true) => SetHandle((nint)handle);

        public override bool IsInvalid => handle == 0;

        protected override bool ReleaseHandle() => true;
    }
}
