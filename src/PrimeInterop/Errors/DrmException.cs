using System.Globalization;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A kernel call made by PrimeInterop failed. Carries the errno, the operation (the ioctl or syscall name),
/// the DRM node or dma-buf it was made on, and the GEM handle or fd involved.
/// </summary>
/// <remarks>
/// Decide on the kind of failure with <see cref="IsNotFound"/>, <see cref="IsPermissionDenied"/> and
/// <see cref="IsNotSupported"/>, or on the exact <see cref="Errno"/>; <see cref="Operation"/> and
/// <see cref="Exception.Message"/> are for people and logs, not for matching.
/// </remarks>
public sealed class DrmException : IOException
{
    internal DrmException(string message, int errno, string operation, string? target, uint? gemHandle, int? fd)
        : base(message)
    {
        Errno = errno;
        Operation = operation;
        Target = target;
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

    /// <summary>
    /// What the call was made on: a DRM node's path (<c>/dev/dri/renderD128</c>), or the kind of file (<c>dma-buf</c>,
    /// <c>socket</c>) with its fd in <see cref="FileDescriptor"/>; null when the call was on nothing in particular.
    /// </summary>
    public string? Target { get; }

    /// <summary>The GEM handle involved, when there was one.</summary>
    public uint? GemHandle { get; }

    /// <summary>The file descriptor involved (a dma-buf or sync_file fd), when there was one.</summary>
    public int? FileDescriptor { get; }

    /// <summary>True when the kernel does not implement the operation (ENOTTY, ENOSYS, EOPNOTSUPP).</summary>
    public bool IsNotSupported => Errno is Interop.Errno.ENOTTY or Interop.Errno.ENOSYS or Interop.Errno.EOPNOTSUPP;

    /// <summary>
    /// True when what the call needed is not there (ENOENT, ENODEV, ENXIO): a device node or driver that does not
    /// exist, or a GEM handle or framebuffer the file does not have.
    /// </summary>
    public bool IsNotFound => Errno is Interop.Errno.ENOENT or Interop.Errno.ENODEV or Interop.Errno.ENXIO;

    /// <summary>
    /// True when the kernel refused the caller (EACCES, EPERM): no permission on the node (the <c>render</c> or
    /// <c>video</c> group), or an operation a render node or a non-master file may not do.
    /// </summary>
    public bool IsPermissionDenied => Errno is Interop.Errno.EACCES or Interop.Errno.EPERM;

    /// <summary>The one place an errno becomes an exception.</summary>
    /// <param name="errno">The errno the call returned.</param>
    /// <param name="operation">The ioctl (its name as defined in Interop/) or syscall.</param>
    /// <param name="target">What the call was made on: a node's path, <c>dma-buf</c>, <c>socket</c>, or null.</param>
    /// <param name="gemHandle">The GEM handle involved, if any.</param>
    /// <param name="fd">The fd involved, if any.</param>
    /// <param name="hint">What the user can do about it, if the library knows.</param>
    internal static DrmException FromErrno(int errno, string operation, string? target, uint? gemHandle = null, int? fd = null, string? hint = null)
    {
        var text = new System.Text.StringBuilder();
        text.Append(operation);
        if (target is not null)
        {
            text.Append(" on ").Append(target);
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

        return new DrmException(text.ToString(), errno, operation, target, gemHandle, fd);
    }
}
