using System.Runtime.InteropServices;

// The structs keep the kernel's names (all lower case) so the layout probe and a reader match them to the headers.
#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>udmabuf (include/uapi/linux/udmabuf.h): a dma-buf over pages of a sealed memfd.</summary>
internal static unsafe class UdmabufUapi
{
    public const char Base = 'u';
    public const uint UDMABUF_FLAGS_CLOEXEC = 0x01;

    /// <summary>The kernel's cap on the ranges of one UDMABUF_CREATE_LIST (drivers/dma-buf/udmabuf.c, list_limit's default).</summary>
    public const int DefaultListLimit = 1024;

    [StructLayout(LayoutKind.Sequential)]
    public struct udmabuf_create
    {
        public uint memfd;
        public uint flags;
        public ulong offset;
        public ulong size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct udmabuf_create_item
    {
        public uint memfd;
        public uint __pad;
        public ulong offset;
        public ulong size;
    }

    /// <summary>The fixed head of the list; <see cref="udmabuf_create_item"/>s follow it in the same allocation.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct udmabuf_create_list
    {
        public uint flags;
        public uint count;
    }

    public static readonly uint UDMABUF_CREATE = Ioctl.IOW(Base, 0x42, sizeof(udmabuf_create));
    public static readonly uint UDMABUF_CREATE_LIST = Ioctl.IOW(Base, 0x43, sizeof(udmabuf_create_list));

    /// <summary>UDMABUF_CREATE returns the new dma-buf fd as the ioctl's result, not in the struct.</summary>
    public static int Create(int device, int memfd, ulong offset, ulong size, out int fd)
    {
        var arg = new udmabuf_create { memfd = (uint)memfd, flags = UDMABUF_FLAGS_CLOEXEC, offset = offset, size = size };
        return Ioctl.InvokeForResult(device, UDMABUF_CREATE, &arg, out fd);
    }

    public static int CreateList(int device, ReadOnlySpan<udmabuf_create_item> items, out int fd)
    {
        int bytes = sizeof(udmabuf_create_list) + (items.Length * sizeof(udmabuf_create_item));
        byte[] buffer = new byte[bytes];
        fixed (byte* p = buffer)
        {
            var head = (udmabuf_create_list*)p;
            head->flags = UDMABUF_FLAGS_CLOEXEC;
            head->count = (uint)items.Length;
            items.CopyTo(new Span<udmabuf_create_item>(p + sizeof(udmabuf_create_list), items.Length));
            return Ioctl.InvokeForResult(device, UDMABUF_CREATE_LIST, p, out fd);
        }
    }
}
