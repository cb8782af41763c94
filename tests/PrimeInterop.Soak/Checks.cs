using System.Globalization;

namespace PrimeInterop.Soak;

/// <summary>Counts invariant violations from every thread; prints the first few to stderr.</summary>
internal static class Violations
{
    private static int _count;

    public static int Count => Volatile.Read(ref _count);

    public static void Report(string what)
    {
        if (Interlocked.Increment(ref _count) <= 20)
        {
            Console.Error.WriteLine($"soak: invariant violated: {what}");
        }
    }
}

/// <summary>What the process has open, and which handle numbers a device still has in the kernel.</summary>
internal static class Leaks
{
    /// <summary>fd → link target from /proc/self/fd.</summary>
    public static Dictionary<int, string> FdTable()
    {
        var table = new Dictionary<int, string>();
        foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            var info = new FileInfo(entry);
            if (info.LinkTarget is string target) // null: the fd of this very listing, closed by now
            {
                table[int.Parse(info.Name, CultureInfo.InvariantCulture)] = target;
            }
        }

        return table;
    }

    /// <summary>fds open now that were not (or were something else) in <paramref name="before"/>; the runtime's lazily opened code files apart.</summary>
    public static int NewFds(Dictionary<int, string> before, string who)
    {
        int leaked = 0;
        foreach (var (fd, target) in FdTable())
        {
            bool runtimeCode = target.StartsWith('/') && (target.EndsWith(".dll", StringComparison.Ordinal) || target.EndsWith(".so", StringComparison.Ordinal) || target.Contains(".so.", StringComparison.Ordinal));
            if ((!before.TryGetValue(fd, out string? was) || was != target) && !runtimeCode)
            {
                Console.Error.WriteLine($"{who}: fd {fd} leaked: {target}");
                leaked++;
            }
        }

        return leaked;
    }

    /// <summary>
    /// Handles still open in <paramref name="device"/>'s file: the library's table, and the kernel itself asked for
    /// every number up to <paramref name="maxHandle"/> (an export of a closed handle fails with ENOENT).
    /// </summary>
    public static int OpenHandles(DrmDevice device, uint maxHandle, string who)
    {
        int open = device.OpenObjectCount;
        if (open != 0)
        {
            Console.Error.WriteLine($"{who}: {device.Path}: the handle table still holds {open} object(s)");
        }

        for (uint h = 1; h <= maxHandle; h++)
        {
            using var probe = device.AdoptHandle(h); // asks nothing of the kernel; its GEM_CLOSE fails harmlessly when h is closed
            try
            {
                using var fd = device.ExportDmaBuf(probe);
                Console.Error.WriteLine($"{who}: {device.Path}: GEM handle {h} is still open in the kernel");
                open++;
            }
            catch (DrmException e) when (e.Errno == PrimeInterop.Interop.Errno.ENOENT)
            {
            }
        }

        return open;
    }
}

/// <summary>A recognisable pattern per dma-buf: each 32-bit word holds its index mixed with a seed.</summary>
internal static class Pattern
{
    public static void Write(DmaBuf buffer, uint seed)
    {
        using var map = buffer.Map(DmaBufAccess.ReadWrite);
        using var cpu = map.BeginAccess(DmaBufAccess.Write);
        Span<byte> bytes = cpu.Span;
        for (int i = 0; i + 4 <= bytes.Length; i += 4)
        {
            BitConverter.TryWriteBytes(bytes[i..], Word(i / 4, seed));
        }
    }

    /// <summary>The index of the first wrong word, or -1.</summary>
    public static int FirstMismatch(DmaBuf buffer, uint seed)
    {
        using var map = buffer.Map(DmaBufAccess.Read);
        using var cpu = map.BeginAccess(DmaBufAccess.Read);
        ReadOnlySpan<byte> bytes = cpu.Span;
        for (int i = 0; i + 4 <= bytes.Length; i += 4)
        {
            if (BitConverter.ToUInt32(bytes[i..]) != Word(i / 4, seed))
            {
                return i / 4;
            }
        }

        return -1;
    }

    public static uint SeedOf(DmaBufIdentity identity) => (uint)identity.Inode * 2246822519u;

    private static uint Word(int index, uint seed) => ((uint)index * 2654435761u) ^ seed;
}

/// <summary>The largest handle number each device has handed out, for the final kernel probe.</summary>
internal sealed class HandleHighWater
{
    private readonly Dictionary<DrmDevice, uint> _max = [];

    public void Saw(GemHandle handle)
    {
        lock (_max)
        {
            _max[handle.Device] = Math.Max(_max.GetValueOrDefault(handle.Device), handle.Value);
        }
    }

    public uint Of(DrmDevice device)
    {
        lock (_max)
        {
            return _max.GetValueOrDefault(device);
        }
    }
}
