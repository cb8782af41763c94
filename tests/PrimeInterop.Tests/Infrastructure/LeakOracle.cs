using System.Text;
using PrimeInterop.Interop;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// Proves a test leaked nothing: the process's fd table is back to what it was when the oracle was created,
/// and every GEM handle the test expects closed is really gone from its file (exporting it fails with ENOENT).
/// Handles are probed through a dup of the device fd, which shares the handle namespace (same open file
/// description), so the probe works even after the test disposed its device. No GC is forced: a leak hidden
/// behind a finalizer is still a leak.
/// </summary>
public sealed class LeakOracle : IDisposable
{
    static LeakOracle() => WarmUpRuntime();

    private readonly Dictionary<int, string> _fdsBefore = FdTable();
    private readonly List<(Microsoft.Win32.SafeHandles.SafeFileHandle File, string Path, uint Handle)> _expectClosed = [];
    private bool _verified;

    public static Dictionary<int, string> FdTable()
    {
        var table = new Dictionary<int, string>();
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            int fd = int.Parse(Path.GetFileName(entry), System.Globalization.CultureInfo.InvariantCulture);
            if (Libc.ReadLink(entry) is string target) // null: the fd of this very directory listing, closed by now
            {
                table[fd] = target;
            }
        }

        return table;
    }

    public static int FdCount() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>
    /// How many of this process's fds refer to the same file as <paramref name="fd"/> (the same /proc link target:
    /// "pipe:[inode]" names one pipe). Unlike <see cref="FdCount"/>, fds the runtime opens meanwhile do not count.
    /// </summary>
    public static int FdsOnSameFile(System.Runtime.InteropServices.SafeHandle fd)
    {
        string target = Libc.ReadLink($"/proc/self/fd/{fd.DangerousGetHandle()}") ?? throw new InvalidOperationException($"fd {fd.DangerousGetHandle()} is not open");
        return FdTable().Values.Count(t => t == target);
    }

    /// <summary>Registers a handle that must be closed in the kernel by the time the test verifies.</summary>
    public void ExpectClosedAtEnd(GemHandle handle)
    {
        int fd = (int)handle.Device.FileHandle.DangerousGetHandle();
        Assert.Equal(0, Libc.DupCloseOnExec(fd, out int dup));
        _expectClosed.Add((new Microsoft.Win32.SafeHandles.SafeFileHandle(dup, ownsHandle: true), handle.Device.Path, handle.Value));
    }

    /// <summary>True when the handle exists in the device's file right now.</summary>
    public static bool HandleIsOpen(System.Runtime.InteropServices.SafeHandle deviceFile, uint handle)
    {
        int errno;
        int fd;
        using (var lease = new Lease(deviceFile))
        {
            errno = DrmPrime.HandleToFd(lease.Fd, handle, DrmPrime.DRM_CLOEXEC, out fd);
        }

        if (errno == 0)
        {
            Libc.Close(fd);
            return true;
        }

        ErrnoAssert.Equal(Errno.ENOENT, errno);
        return false;
    }

    public void Verify()
    {
        _verified = true;
        var problems = new StringBuilder();
        foreach (var (file, path, handle) in _expectClosed)
        {
            if (HandleIsOpen(file, handle))
            {
                problems.AppendLine($"GEM handle {handle} on {path} is still open in the kernel");
            }

            file.Dispose();
        }

        var after = FdTable();
        foreach (var (fd, target) in after)
        {
            bool existed = _fdsBefore.TryGetValue(fd, out string? before) && before == target;
            if (!existed && !IsRuntimeFile(target))
            {
                problems.AppendLine($"fd {fd} leaked: {target}");
            }
        }

        Assert.True(problems.Length == 0, $"leak oracle: {_fdsBefore.Count} fds before, {after.Count} after\n{problems}");
    }

    /// <summary>
    /// The runtime opens some fds once, on first use, and keeps them: the SIGCHLD pipe of Process and the epoll
    /// and wake-up fds of the socket engine; so does the library, for the epoll fd of its readiness poller. Which test uses them first depends on test order (xunit orders by
    /// IDs that depend on the assembly's path), so they are created here, before any snapshot.
    /// </summary>
    private static void WarmUpRuntime()
    {
        _ = FdPoller.Instance;
        using (var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/true") { UseShellExecute = false }))
        {
            p?.WaitForExit();
        }

        using var pair = new SocketPair();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        try
        {
            pair.A.ReceiveAsync(new byte[1], System.Net.Sockets.SocketFlags.None, cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Not ours: the runtime keeps assemblies and native libraries it loads lazily open, and its GC reads
    /// /proc/meminfo (the memory load) on a thread of its own, an fd that a snapshot can catch open.
    /// </summary>
    private static bool IsRuntimeFile(string target) =>
        target == "/proc/meminfo" ||
        target.StartsWith('/') && (target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".so", StringComparison.Ordinal) || target.Contains(".so.", StringComparison.Ordinal));

    public void Dispose()
    {
        if (!_verified)
        {
            foreach (var e in _expectClosed)
            {
                e.File.Dispose();
            }
        }
    }
}
