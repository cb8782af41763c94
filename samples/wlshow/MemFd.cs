using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace WlShow;

/// <summary>memfd_create(2) and kill(2), which .NET does not offer: the two libc calls this sample needs.</summary>
internal static class MemFd
{
    private const uint MFD_CLOEXEC = 1;

    /// <summary>An anonymous, close-on-exec memory file of <paramref name="size"/> bytes (for wl_shm).</summary>
    public static SafeFileHandle Create(string name, long size)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        int fd = MemfdCreate(utf8, MFD_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"memfd_create(\"{name}\") failed: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            RandomAccess.SetLength(handle, size);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when the process is gone.</summary>
    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

    [DllImport("libc", EntryPoint = "memfd_create", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MemfdCreate(byte[] name, uint flags);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);
}
