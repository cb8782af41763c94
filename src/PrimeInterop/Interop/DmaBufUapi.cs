using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>dma-buf ioctls (include/uapi/linux/dma-buf.h): SYNC, SET_NAME, EXPORT/IMPORT_SYNC_FILE.</summary>
internal static unsafe class DmaBufUapi
{
    public const char Base = 'b';
    public const int DMA_BUF_NAME_LEN = 32;

    public const ulong DMA_BUF_SYNC_READ = 1 << 0;
    public const ulong DMA_BUF_SYNC_WRITE = 2 << 0;
    public const ulong DMA_BUF_SYNC_RW = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
    public const ulong DMA_BUF_SYNC_START = 0 << 2;
    public const ulong DMA_BUF_SYNC_END = 1 << 2;

    [StructLayout(LayoutKind.Sequential)]
    public struct dma_buf_sync
    {
        public ulong flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct dma_buf_export_sync_file
    {
        public uint flags;
        public int fd;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct dma_buf_import_sync_file
    {
        public uint flags;
        public int fd;
    }

    public static readonly uint DMA_BUF_IOCTL_SYNC = Ioctl.IOW(Base, 0, sizeof(dma_buf_sync));
    // The kernel defines SET_NAME with sizeof(const char *); on 64-bit that is DMA_BUF_SET_NAME_B (u64).
    public static readonly uint DMA_BUF_SET_NAME = Ioctl.IOW(Base, 1, sizeof(ulong));
    public static readonly uint DMA_BUF_IOCTL_EXPORT_SYNC_FILE = Ioctl.IOWR(Base, 2, sizeof(dma_buf_export_sync_file));
    public static readonly uint DMA_BUF_IOCTL_IMPORT_SYNC_FILE = Ioctl.IOW(Base, 3, sizeof(dma_buf_import_sync_file));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [SkipLocalsInit] // the argument's one field is written whole: no zeroing first (on the per-frame access path, twice)
    public static int Sync(int fd, ulong flags)
    {
        dma_buf_sync arg;
        arg.flags = flags;
        return Ioctl.Invoke(fd, DMA_BUF_IOCTL_SYNC, &arg);
    }

    /// <summary>SET_NAME takes a pointer to a NUL-terminated string as its argument itself, not a struct.</summary>
    public static int SetName(int fd, ReadOnlySpan<byte> nulTerminated)
    {
        fixed (byte* p = nulTerminated)
        {
            return Ioctl.Invoke(fd, DMA_BUF_SET_NAME, p);
        }
    }

    public static int ExportSyncFile(int fd, uint flags, out int syncFd)
    {
        var arg = new dma_buf_export_sync_file { flags = flags, fd = -1 };
        int errno = Ioctl.Invoke(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &arg);
        syncFd = errno == 0 ? arg.fd : -1;
        return errno;
    }

    public static int ImportSyncFile(int fd, uint flags, int syncFd)
    {
        var arg = new dma_buf_import_sync_file { flags = flags, fd = syncFd };
        return Ioctl.Invoke(fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &arg);
    }
}
