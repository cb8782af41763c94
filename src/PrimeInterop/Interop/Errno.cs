namespace PrimeInterop.Interop;

/// <summary>The errno values this library names (asm-generic/errno-base.h, errno.h on x86-64).</summary>
internal static class Errno
{
    public const int ENXIO = 6, ECONNRESET = 104; // a node whose device is gone; a peer that reset the connection
    public const int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, EBADF = 9, EAGAIN = 11, ENOMEM = 12,
        EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENFILE = 23, EMFILE = 24,
        ENOTTY = 25, ENOSPC = 28, ESPIPE = 29, ERANGE = 34, ENOSYS = 38, EPIPE = 32, EBADFD = 77, EOPNOTSUPP = 95, ETOOMANYREFS = 109, ETIMEDOUT = 110;

    public static string Name(int errno) => errno switch
    {
        ENXIO => "ENXIO", ECONNRESET => "ECONNRESET",
        EPERM => "EPERM", ENOENT => "ENOENT", EINTR => "EINTR", EIO => "EIO", EBADF => "EBADF",
        EAGAIN => "EAGAIN", ENOMEM => "ENOMEM", EACCES => "EACCES", EFAULT => "EFAULT", EBUSY => "EBUSY",
        EEXIST => "EEXIST", ENODEV => "ENODEV", EINVAL => "EINVAL", ENFILE => "ENFILE", EMFILE => "EMFILE",
        ENOTTY => "ENOTTY", ENOSPC => "ENOSPC", ESPIPE => "ESPIPE", ERANGE => "ERANGE", ENOSYS => "ENOSYS",
        EPIPE => "EPIPE", EBADFD => "EBADFD", EOPNOTSUPP => "EOPNOTSUPP", ETOOMANYREFS => "ETOOMANYREFS", ETIMEDOUT => "ETIMEDOUT",
        _ => "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
