using System.Runtime.InteropServices;

#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>dma-buf heaps (include/uapi/linux/dma-heap.h): allocate a dma-buf from /dev/dma_heap/NAME.</summary>
internal static unsafe class DmaHeapUapi
{
    public const char Base = 'H';
    public const string Directory = "/dev/dma_heap";

    [StructLayout(LayoutKind.Sequential)]
    public struct dma_heap_allocation_data
    {
        public ulong len;
        public uint fd;
        public uint fd_flags;
        public ulong heap_flags;
    }

    public static readonly uint DMA_HEAP_IOCTL_ALLOC = Ioctl.IOWR(Base, 0x0, sizeof(dma_heap_allocation_data));

    public static int Allocate(int heap, ulong length, uint fdFlags, out int fd)
    {
        var arg = new dma_heap_allocation_data { len = length, fd_flags = fdFlags };
        int errno = Ioctl.Invoke(heap, DMA_HEAP_IOCTL_ALLOC, &arg);
        fd = errno == 0 ? (int)arg.fd : -1;
        return errno;
    }
}
