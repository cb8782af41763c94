using System.Diagnostics;
using System.Globalization;

namespace PrimeInterop.Bench;

/// <summary>
/// `PrimeInterop.Bench fence-latency [SAMPLES] [ROUNDS]`: the time from just before vgem signals a write fence to the
/// code after `await WaitReadyAsync(Read)` (C#: the poller thread's epoll_wait, then a thread-pool continuation),
/// against native/fence-latency (a C thread blocked in poll() on the same kind of buffer), in alternating rounds.
/// Prints the median per round and the median ratio C#/C; also to $RIG_OUT/fence-latency-line.
/// </summary>
internal static class FenceLatency
{
    public static async Task<int> RunAsync(string nativeDir, int samples, int rounds)
    {
        string native = Path.Combine(nativeDir, "fence-latency");
        if (!File.Exists(native))
        {
            Console.Error.WriteLine($"bench: {native} is missing; run make -C native");
            return 2;
        }

        using var card = DrmDevice.OpenByDriver("vgem", DrmNodeType.Primary);
        using var dumb = card.CreateDumbBuffer(16, 16, 32);
        using var buffer = card.ExportDmaBuf(dumb.Handle);
        await Managed(dumb, buffer, 20); // warm-up: JIT, thread pool, the poller's thread
        string kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        Console.WriteLine($"fence wait latency, kernel {kernel}: signal -> await continuation (C#) vs signal -> poll() return (C thread); median of {samples} per round, microseconds");
        var ratios = new List<double>();
        var cs = new List<double>();
        var c = new List<double>();
        for (int r = 1; r <= rounds; r++)
        {
            double n = Native(native, samples);
            double m = await Managed(dumb, buffer, samples);
            c.Add(n);
            cs.Add(m);
            ratios.Add(m / n);
            Console.WriteLine($"round {r}: C {n / 1000,8:F1}   C# {m / 1000,8:F1}   C#/C {m / n,6:F2}");
        }

        string line = string.Create(CultureInfo.InvariantCulture,
            $"fence-latency {kernel}: C# {Median(cs) / 1000:F1} us, C {Median(c) / 1000:F1} us, C#/C {Median(ratios):F2} (medians of {rounds} rounds x {samples} samples)");
        Console.WriteLine(line);
        if (Environment.GetEnvironmentVariable("RIG_OUT") is { Length: > 0 } outDir)
        {
            File.WriteAllText(Path.Combine(outDir, "fence-latency-line"), line + "\n");
        }

        return 0;
    }

    private static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

    private static async Task<double> Managed(DumbBuffer dumb, DmaBuf buffer, int n)
    {
        var values = new List<double>(n);
        for (int i = 0; i < n; i++)
        {
            using var fence = VgemFence.Attach(dumb.Handle, DmaBufAccess.Write);
            Task<long> woke = WakeTime(buffer);
            Thread.Sleep(2); // as the C waiter: registered before the signal
            long t0 = Stopwatch.GetTimestamp();
            fence.Signal();
            values.Add(Stopwatch.GetElapsedTime(t0, await woke).TotalNanoseconds);
        }

        return Median(values);
    }

    private static async Task<long> WakeTime(DmaBuf buffer)
    {
        await buffer.WaitReadyAsync(DmaBufAccess.Read).ConfigureAwait(false);
        return Stopwatch.GetTimestamp();
    }

    private static double Native(string native, int n)
    {
        using var p = Process.Start(new ProcessStartInfo(native, n.ToString(CultureInfo.InvariantCulture)) { RedirectStandardOutput = true })!;
        var values = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
        p.WaitForExit();
        return p.ExitCode == 0 ? values["median_ns"] : throw new InvalidOperationException($"fence-latency exited {p.ExitCode}");
    }
}
