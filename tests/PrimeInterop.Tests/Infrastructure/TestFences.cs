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
        using var lease = new HandleLease(_file);
        int errno = SwSync.CreateFence(lease.Fd, point, System.Text.Encoding.UTF8.GetBytes(name), out int fence);
        Assert.True(errno == 0, $"SW_SYNC_IOC_CREATE_FENCE: {Errno.Name(errno)}");
        return SyncFile.FromFileDescriptor(fence, ownsHandle: true);
    }

    public void Advance(uint count = 1)
    {
        using var lease = new HandleLease(_file);
        Assert.Equal(0, SwSync.Increment(lease.Fd, count));
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>What the kernel says about this process's threads.</summary>
public static class ProcessThreads
{
    public static int Count()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                return int.Parse(line.AsSpan(8).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("no Threads: line in /proc/self/status");
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
