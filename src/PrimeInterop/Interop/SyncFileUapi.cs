using System.Runtime.InteropServices;

// The structs keep the kernel's names (all lower case) so the layout probe and a reader match them to the headers.
#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>sync_file ioctls (include/uapi/linux/sync_file.h): FILE_INFO, used to ask the kernel whether an fd is a sync_file.</summary>
internal static unsafe class SyncFileUapi
{
    public const char Base = '>';

    [StructLayout(LayoutKind.Sequential)]
    public struct sync_file_info
    {
        public fixed byte name[32];
        public int status;
        public uint flags;
        public uint num_fences;
        public uint pad;
        public ulong sync_fence_info;
    }

    public static readonly uint SYNC_IOC_FILE_INFO = Ioctl.IOWR(Base, 4, sizeof(sync_file_info));

    /// <summary>
    /// True when the kernel says <paramref name="fd"/> is a sync_file: it lives on the anonymous-inode filesystem
    /// (so no other driver's ioctl can be reached by this number) and answers SYNC_IOC_FILE_INFO.
    /// </summary>
    public static bool IsSyncFile(int fd)
    {
        if (fd < 0 || Libc.FileSystemType(fd, out long type) != 0 || type != Libc.ANON_INODE_FS_MAGIC)
        {
            return false;
        }

        var info = default(sync_file_info); // num_fences 0: the kernel fills in the count only
        return Ioctl.Invoke(fd, SYNC_IOC_FILE_INFO, &info) == 0;
    }
}
