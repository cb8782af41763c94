using System.Globalization;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A kernel call made by PrimeInterop failed. Carries the errno, the operation (the ioctl or syscall name),
/// the DRM node or dma-buf it was made on, and the GEM handle or fd involved.
/// </summary>
public sealed class DrmException : IOException
{
    internal DrmException(string message, int errno, string operation, string? path, uint? gemHandle, int? fd)
        : base(message)
    {
        Errno = errno;
        Operation = operation;
        Path = path;
        GemHandle = gemHandle;
        FileDescriptor = fd;
        HResult = errno;
    }

    /// <summary>The errno the kernel returned (for example 2 for ENOENT).</summary>
    public int Errno { get; }

    /// <summary>The symbolic errno name, such as <c>ENOENT</c>.</summary>
    public string ErrnoName => Interop.Errno.Name(Errno);

    /// <summary>The operation that failed, such as <c>DRM_IOCTL_PRIME_HANDLE_TO_FD</c>.</summary>
    public string Operation { get; }

    /// <summary>The DRM node (or other file) the call was made on, when known.</summary>
    public string? Path { get; }

    /// <summary>The GEM handle involved, when there was one.</summary>
    public uint? GemHandle { get; }

    /// <summary>The file descriptor involved (a dma-buf or sync_file fd), when there was one.</summary>
    public int? FileDescriptor { get; }

    /// <summary>True when the kernel does not implement the operation (ENOTTY, ENOSYS, EOPNOTSUPP).</summary>
    public bool IsNotSupported => Errno is Interop.Errno.ENOTTY or Interop.Errno.ENOSYS or Interop.Errno.EOPNOTSUPP;

    /// <summary>The one place an errno becomes an exception.</summary>
    internal static DrmException FromErrno(int errno, string operation, string? path, uint? gemHandle = null, int? fd = null, string? hint = null)
    {
        var text = new System.Text.StringBuilder();
        text.Append(operation);
        if (path is not null)
        {
            text.Append(" on ").Append(path);
        }

        if (gemHandle is uint h)
        {
            text.Append(CultureInfo.InvariantCulture, $" (GEM handle {h})");
        }

        if (fd is int f)
        {
            text.Append(CultureInfo.InvariantCulture, $" (fd {f})");
        }

        text.Append(CultureInfo.InvariantCulture, $" failed: {Interop.Errno.Name(errno)} ({Marshal.GetPInvokeErrorMessage(errno)})");
        if (errno is Interop.Errno.ENOTTY or Interop.Errno.ENOSYS)
        {
            text.Append("; not supported by this kernel");
        }

        if (hint is not null)
        {
            text.Append(". ").Append(hint);
        }

        if (errno == Interop.Errno.EMFILE)
        {
            // Which limit: the caller's RLIMIT_NOFILE (read without opening anything, the table being full).
            text.Append(Interop.Resource.OpenFileLimit() is var (soft, hard)
                ? string.Create(CultureInfo.InvariantCulture, $". This process has reached its open-file limit (RLIMIT_NOFILE: soft {soft}, hard {hard}; ulimit -n)")
                : ". This process has reached its open-file limit (RLIMIT_NOFILE; ulimit -n)");
        }
        else if (errno == Interop.Errno.ENFILE)
        {
            text.Append(". The system-wide open-file limit is reached (fs.file-max)");
        }

        return new DrmException(text.ToString(), errno, operation, path, gemHandle, fd);
    }
}
