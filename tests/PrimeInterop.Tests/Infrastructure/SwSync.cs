using System.Runtime.InteropServices;
using PrimeInterop.Interop;

#pragma warning disable CS8981

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// sw_sync (drivers/dma-buf/sw_sync.c, debugfs <c>sync/sw_sync</c>): a software timeline whose points are
/// sync_files, for pending fences that a test signals. Not uapi (the struct and numbers live in the driver's
/// source); checked by the layout probe like the library's own bindings.
/// </summary>
internal static unsafe class SwSync
{
    public const char Base = 'W';
    public const string DebugfsPath = "/sys/kernel/debug/sync/sw_sync";

    [StructLayout(LayoutKind.Sequential)]
    public struct sw_sync_create_fence_data
    {
        public uint value;
        public fixed byte name[32];
        public int fence;
    }

    public static readonly uint SW_SYNC_IOC_CREATE_FENCE = Ioctl.IOWR(Base, 0, sizeof(sw_sync_create_fence_data));
    public static readonly uint SW_SYNC_IOC_INC = Ioctl.IOW(Base, 1, sizeof(uint));

    public static int CreateFence(int timeline, uint value, ReadOnlySpan<byte> name, out int fence)
    {
        var arg = new sw_sync_create_fence_data { value = value, fence = -1 };
        name[..Math.Min(name.Length, 31)].CopyTo(new Span<byte>(arg.name, 32));
        int errno = Ioctl.Invoke(timeline, SW_SYNC_IOC_CREATE_FENCE, &arg);
        fence = errno == 0 ? arg.fence : -1;
        return errno;
    }

    public static int Increment(int timeline, uint count) => Ioctl.Invoke(timeline, SW_SYNC_IOC_INC, &count);
}
