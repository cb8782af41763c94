using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// An fd the kernel has just made (open, memfd_create, a debugfs file), into the SafeHandle that owns it. Should that
/// object fail to come into being (memory runs out), the fd is closed, not leaked. (An fd made by an ioctl gets its
/// owner before the call instead: see FileDescriptorHandle.Own.)
/// </summary>
internal static class NewFd
{
    public static T Own<T>(int fd, Func<int, T> owner)
    {
        try
        {
            return owner(fd);
        }
        catch
        {
            _ = Libc.Close(fd);
            throw;
        }
    }
}
