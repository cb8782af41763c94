using System.Runtime.InteropServices;

#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>sync_file ioctls (include/uapi/linux/sync_file.h): MERGE and FILE_INFO (also how an fd is recognised as a sync_file).</summary>
internal static unsafe class SyncFileUapi
{
    public const char Base = '>';
    public const int NameLength = 32;

    [StructLayout(LayoutKind.Sequential)]
    public struct sync_merge_data
    {
        public fixed byte name[NameLength];
        public int fd2;
        public int fence;
        public uint flags;
        public uint pad;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct sync_fence_info
    {
        public fixed byte obj_name[NameLength];
        public fixed byte driver_name[NameLength];
        public int status;
        public uint flags;
        public ulong timestamp_ns;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct sync_file_info
    {
        public fixed byte name[NameLength];
        public int status;
        public uint flags;
        public uint num_fences;
        public uint pad;
        public ulong sync_fence_info;
    }

    public static readonly uint SYNC_IOC_MERGE = Ioctl.IOWR(Base, 3, sizeof(sync_merge_data));
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

    public static int Merge(int fd, int fd2, ReadOnlySpan<byte> name, out int fence)
    {
        var arg = new sync_merge_data { fd2 = fd2, fence = -1 };
        name[..Math.Min(name.Length, NameLength - 1)].CopyTo(new Span<byte>(arg.name, NameLength));
        int errno = Ioctl.Invoke(fd, SYNC_IOC_MERGE, &arg);
        fence = errno == 0 ? arg.fence : -1;
        return errno;
    }

    /// <summary>
    /// FILE_INFO in its two steps: the count of fences, then the fences. A sync_file's fences are fixed at creation,
    /// so the second call's count cannot grow; the kernel refuses a count that is too small (EINVAL) anyway.
    /// </summary>
    public static int GetInfo(int fd, out string name, out int status, out (string Timeline, string Driver, int Status, ulong TimestampNs)[] fences)
    {
        int errno = GetInfo(fd, out sync_file_info info, out sync_fence_info[] raw);
        name = Text(info.name);
        status = info.status;
        fences = new (string, string, int, ulong)[raw.Length];
        for (int i = 0; i < raw.Length; i++)
        {
            fixed (sync_fence_info* f = &raw[i])
            {
                fences[i] = (Text(f->obj_name), Text(f->driver_name), f->status, f->timestamp_ns);
            }
        }

        return errno;
    }

    private static string Text(byte* chars)
    {
        var span = new ReadOnlySpan<byte>(chars, NameLength);
        int nul = span.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(nul < 0 ? span : span[..nul]);
    }

    private static int GetInfo(int fd, out sync_file_info info, out sync_fence_info[] fences)
    {
        fences = [];
        var head = default(sync_file_info);
        int errno = Ioctl.Invoke(fd, SYNC_IOC_FILE_INFO, &head);
        info = head;
        if (errno != 0 || head.num_fences == 0)
        {
            return errno;
        }

        var list = new sync_fence_info[head.num_fences];
        fixed (sync_fence_info* p = list)
        {
            var full = new sync_file_info { num_fences = (uint)list.Length, sync_fence_info = (ulong)p };
            errno = Ioctl.Invoke(fd, SYNC_IOC_FILE_INFO, &full);
            info = full;
        }

        if (errno == 0)
        {
            fences = list;
        }

        return errno;
    }
}
