using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// A sw_sync timeline (debugfs sync/sw_sync, kernel A): <see cref="CreateFence"/> makes a sync_file that signals
/// when <see cref="Advance"/> has moved the timeline to its point. Closing the timeline signals what is left.
/// </summary>
public sealed class SwSyncTimeline : IDisposable
{
    private readonly SafeFileHandle _file;

    public SwSyncTimeline()
    {
        KernelEnv.RequireCapability("sw_sync");
        int errno = Libc.Open(SwSync.DebugfsPath, Libc.O_RDWR | Libc.O_CLOEXEC, out int fd);
        Assert.True(errno == 0, $"open {SwSync.DebugfsPath}: {Errno.Name(errno)}");
        _file = new SafeFileHandle(fd, ownsHandle: true);
    }

    public SyncFile CreateFence(uint point, string name = "test")
    {
        using var lease = new Lease(_file);
        int errno = SwSync.CreateFence(lease.Fd, point, System.Text.Encoding.UTF8.GetBytes(name), out int fence);
        Assert.True(errno == 0, $"SW_SYNC_IOC_CREATE_FENCE: {Errno.Name(errno)}");
        return SyncFile.FromFileDescriptor(fence, ownsHandle: true);
    }

    public void Advance(uint count = 1)
    {
        using var lease = new Lease(_file);
        Assert.Equal(0, SwSync.Increment(lease.Fd, count));
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>What the kernel says about this process's threads.</summary>
public static class ProcessThreads
{
    /// <summary>
    /// The threads that are not the runtime's thread-pool workers, by the names the kernel keeps (comm, 15 bytes).
    /// The pool may add workers at any time (hill climbing, starvation injection), so a test that asks "did
    /// waiting cost a thread per wait" counts only threads that no pool could have started.
    /// </summary>
    public static int CountOutsideRuntimePools()
    {
        int count = 0;
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            string name;
            try
            {
                name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
            }
            catch (IOException)
            {
                continue; // the thread exited between the listing and the read
            }

            if (!name.StartsWith(".NET TP", StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>How many threads carry this name (as the kernel truncates it: 15 bytes).</summary>
    public static int Named(string name)
    {
        string comm = name.Length > 15 ? name[..15] : name;
        return Directory.GetDirectories("/proc/self/task").Count(t =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(t, "comm")).TrimEnd('\n') == comm;
            }
            catch (IOException)
            {
                return false;
            }
        });
    }
}

/// <summary>Numbers worth keeping from a rig run: appended to $RIG_OUT/measurements.txt and to the test output.</summary>
public static class Measurements
{
    public static void Record(string line)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        string? dir = Environment.GetEnvironmentVariable("RIG_OUT");
        if (dir is not null && Directory.Exists(dir))
        {
            File.AppendAllText(Path.Combine(dir, "measurements.txt"), $"{Environment.GetEnvironmentVariable("PRIMEINTEROP_RIG_KERNEL")}: {line}\n");
        }
    }
}
