using System.Runtime.InteropServices;
using System.Text;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// Records which files in a directory (or which single file) this process or anyone else opens, with inotify's
/// IN_OPEN: proof that a probe opened nothing, not just that it closed what it opened.
/// </summary>
public sealed partial class OpenWatch : IDisposable
{
    private const int IN_OPEN = 0x20, IN_NONBLOCK = 0x800, IN_CLOEXEC = 0x80000, EAGAIN = 11;

    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _fd;
    private readonly string _path;

    public OpenWatch(string path)
    {
        _path = path;
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        Assert.True(fd >= 0, $"inotify_init1: errno {Marshal.GetLastPInvokeError()}");
        _fd = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        Assert.True(inotify_add_watch(fd, path, IN_OPEN) >= 0, $"inotify_add_watch({path}): errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The names opened since the last call (the watched path itself for a file watch).</summary>
    public unsafe List<string> Opened()
    {
        var names = new List<string>();
        byte[] buffer = new byte[4096];
        while (true)
        {
            long n;
            fixed (byte* p = buffer)
            {
                n = read((int)_fd.DangerousGetHandle(), p, buffer.Length);
            }

            if (n < 0)
            {
                Assert.Equal(EAGAIN, Marshal.GetLastPInvokeError());
                return names;
            }

            for (int offset = 0; offset + 16 <= n;)
            {
                uint mask = BitConverter.ToUInt32(buffer, offset + 4);
                int length = (int)BitConverter.ToUInt32(buffer, offset + 12);
                string name = Encoding.UTF8.GetString(buffer, offset + 16, length).TrimEnd('\0');
                if ((mask & IN_OPEN) != 0)
                {
                    names.Add(name.Length == 0 ? _path : name);
                }

                offset += 16 + length;
            }
        }
    }

    public void Dispose() => _fd.Dispose();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int inotify_init1(int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int inotify_add_watch(int fd, string path, uint mask);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial long read(int fd, byte* buffer, long count);
}
