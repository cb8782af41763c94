using System.Runtime.InteropServices;
using PrimeInterop;

namespace PrimeComp.Verification;

/// <summary>
/// Asks the kernel itself what a DRM file still holds, independent of the library's bookkeeping: a GEM handle exists
/// when PRIME_HANDLE_TO_FD on it succeeds (ENOENT otherwise).
/// </summary>
internal static partial class KernelProbe
{
    private const uint DRM_IOCTL_PRIME_HANDLE_TO_FD = 0xc00c642d; // _IOWR('d', 0x2d, struct drm_prime_handle)
    private const uint DRM_CLOEXEC = 0x80000; // O_CLOEXEC

    /// <summary>How many of the handle numbers 1..<paramref name="upTo"/> are open in <paramref name="card"/>'s file.</summary>
    public static int OpenHandles(DrmDevice card, uint upTo = 1024)
    {
        SafeHandle file = card.FileHandle;
        bool added = false;
        file.DangerousAddRef(ref added);
        try
        {
            int fd = (int)file.DangerousGetHandle(), open = 0;
            for (uint h = 1; h <= upTo; h++)
            {
                var args = new PrimeHandle { Handle = h, Flags = DRM_CLOEXEC, Fd = -1 };
                if (Ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, ref args) == 0)
                {
                    open++;
                    _ = Close(args.Fd);
                }
            }

            return open;
        }
        finally
        {
            file.DangerousRelease();
        }
    }

    /// <summary>
    /// This process's fds of the kinds a compositor makes and could leak (dma-bufs, sync_files, DRM files, sockets,
    /// memfds), by /proc's link text; the runtime's own lazily opened ones (epoll, pipes, eventfds) are not counted.
    /// </summary>
    public static int CompositorFds()
    {
        int count = 0;
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            string? target = null;
            try
            {
                target = new FileInfo(entry).LinkTarget;
            }
            catch (IOException)
            {
                // closed while listed
            }

            if (target is not null && (target.StartsWith("anon_inode:dmabuf", StringComparison.Ordinal) || target.StartsWith("anon_inode:sync_file", StringComparison.Ordinal)
                || target.StartsWith("/dev/dri/", StringComparison.Ordinal) || target.StartsWith("socket:", StringComparison.Ordinal) || target.StartsWith("/memfd:", StringComparison.Ordinal)))
            {
                count++;
            }
        }

        return count;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PrimeHandle
    {
        public uint Handle;
        public uint Flags;
        public int Fd;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Ioctl(int fd, nuint request, ref PrimeHandle args);

    [LibraryImport("libc", EntryPoint = "close")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static partial int Close(int fd);
}
