// PrimeInterop benchmark: the library against native/prime-bench (libdrm doing the same ioctls), side by side,
// in rounds that alternate C and C#, on whatever kernel this runs on. Under QEMU's emulator the absolute times
// mean nothing; the ratio measured in one run does.
//   dotnet PrimeInterop.Bench.dll [ITERATIONS] [ROUNDS]
using System.Diagnostics;
using System.Globalization;
using PrimeInterop;

int iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20000;
int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
string native = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "native", "prime-bench");
if (!File.Exists(native))
{
    Console.Error.WriteLine($"bench: {Path.GetFullPath(native)} is missing; run make -C native");
    return 2;
}

using var card = DrmDevice.OpenByDriver("vgem", DrmNodeType.Primary);
using var render = DrmDevice.OpenByDriver("vgem", DrmNodeType.Render);
using var dumb = card.CreateDumbBuffer(64, 64, 32);

(double Export, double RoundTrip, double AllocExport, double AllocRoundTrip) Managed(int n)
{
    long a0 = GC.GetAllocatedBytesForCurrentThread();
    var sw = Stopwatch.StartNew();
    for (int i = 0; i < n; i++)
    {
        using var fd = card.ExportDmaBuf(dumb.Handle);
    }

    double export = sw.Elapsed.TotalNanoseconds / n;
    long a1 = GC.GetAllocatedBytesForCurrentThread();
    sw.Restart();
    for (int i = 0; i < n; i++)
    {
        using var fd = card.ExportDmaBuf(dumb.Handle);
        using var imported = render.ImportDmaBuf(fd);
    }

    double roundTrip = sw.Elapsed.TotalNanoseconds / n;
    long a2 = GC.GetAllocatedBytesForCurrentThread();
    return (export, roundTrip, (a1 - a0) / (double)n, (a2 - a1) / (double)n);
}

(double Export, double RoundTrip) Native(int n)
{
    using var p = Process.Start(new ProcessStartInfo(native, n.ToString(CultureInfo.InvariantCulture)) { RedirectStandardOutput = true })!;
    var values = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(l => l.Split(' ')).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
    p.WaitForExit();
    return p.ExitCode == 0 ? (values["export"], values["roundtrip"]) : throw new InvalidOperationException($"prime-bench exited {p.ExitCode}");
}

// Warm-up by time, not count: tiered JIT promotes hot methods after a delay measured in wall-clock time, which
// under emulation is long; measuring before that mixes tier-0 and tier-1 code.
for (var warm = Stopwatch.StartNew(); warm.Elapsed < TimeSpan.FromSeconds(3);)
{
    Managed(200);
}

Console.WriteLine($"PrimeInterop vs libdrm, {iterations} iterations x {rounds} rounds, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, vgem {card.Path} + {render.Path}");
Console.WriteLine("  export    = HANDLE_TO_FD on card + close");
Console.WriteLine("  roundtrip = HANDLE_TO_FD on card + FD_TO_HANDLE on render + GEM_CLOSE + close (C#: with the handle table and its lock)");
Console.WriteLine($"{"round",-6} {"C export",10} {"C# export",10} {"ratio",6}   {"C rt",10} {"C# rt",10} {"ratio",6}   (ns/op)");
var exportRatios = new List<double>();
var rtRatios = new List<double>();
double allocExport = 0, allocRt = 0;
for (int r = 1; r <= rounds; r++)
{
    var c = Native(iterations);
    var m = Managed(iterations);
    exportRatios.Add(m.Export / c.Export);
    rtRatios.Add(m.RoundTrip / c.RoundTrip);
    (allocExport, allocRt) = (m.AllocExport, m.AllocRoundTrip);
    Console.WriteLine($"{r,-6} {c.Export,10:F0} {m.Export,10:F0} {exportRatios[^1],6:F2}   {c.RoundTrip,10:F0} {m.RoundTrip,10:F0} {rtRatios[^1],6:F2}");
}

static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
Console.WriteLine($"median C#/C: export {Median(exportRatios):F2}, roundtrip {Median(rtRatios):F2}; managed allocations: export {allocExport:F0} B/op, roundtrip {allocRt:F0} B/op");

// Fence wait latency: from just before vgem signals a write fence to the code after `await WaitReadyAsync(Read)`
// (C#: the poller thread's epoll_wait, then a thread-pool continuation), against a C thread blocked in poll().
string fenceNative = Path.Combine(Path.GetDirectoryName(native)!, "fence-latency");
int samples = Math.Max(20, iterations / 100);
using var fenced = card.ExportDmaBuf(dumb.Handle);

async Task<double> ManagedFenceLatency(int n)
{
    var values = new List<double>(n);
    for (int i = 0; i < n; i++)
    {
        using var fence = FenceAttach();
        Task<long> woke = WakeTime();
        Thread.Sleep(2); // as the C waiter: registered before the signal
        long t0 = Stopwatch.GetTimestamp();
        fence.Signal();
        values.Add(Stopwatch.GetElapsedTime(t0, await woke).TotalNanoseconds);
    }

    return Median(values);
}

async Task<long> WakeTime()
{
    await fenced.WaitReadyAsync(DmaBufAccess.Read).ConfigureAwait(false);
    return Stopwatch.GetTimestamp();
}

VgemFenceHandle FenceAttach()
{
    int errno = PrimeInterop.Interop.Vgem.AttachFence((int)card.FileHandle.DangerousGetHandle(), dumb.Handle.Value, write: true, out uint id);
    return errno == 0 ? new VgemFenceHandle(card, id) : throw new InvalidOperationException($"VGEM_FENCE_ATTACH: errno {errno}");
}

double NativeFenceLatency(int n)
{
    using var p = Process.Start(new ProcessStartInfo(fenceNative, n.ToString(CultureInfo.InvariantCulture)) { RedirectStandardOutput = true })!;
    var values = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Select(l => l.Split(' ')).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
    p.WaitForExit();
    return p.ExitCode == 0 ? values["median_ns"] : throw new InvalidOperationException($"fence-latency exited {p.ExitCode}");
}

await ManagedFenceLatency(20); // warm-up
Console.WriteLine($"fence wait: signal -> await continuation (C#) vs signal -> poll() return (C thread), median of {samples} per round (us)");
var latencyRatios = new List<double>();
for (int r = 1; r <= rounds; r++)
{
    double c = NativeFenceLatency(samples);
    double m = await ManagedFenceLatency(samples);
    latencyRatios.Add(m / c);
    Console.WriteLine($"{r,-6} C {c / 1000,8:F1}   C# {m / 1000,8:F1}   ratio {latencyRatios[^1],6:F2}");
}

Console.WriteLine($"median C#/C fence wait latency: {Median(latencyRatios):F2}");
return 0;

/// <summary>A pending vgem fence; Signal() signals it.</summary>
internal sealed class VgemFenceHandle(DrmDevice card, uint id) : IDisposable
{
    private bool _signaled;

    public void Signal()
    {
        int errno = PrimeInterop.Interop.Vgem.SignalFence((int)card.FileHandle.DangerousGetHandle(), id);
        _signaled = errno == 0 ? true : throw new InvalidOperationException($"VGEM_FENCE_SIGNAL: errno {errno}");
    }

    public void Dispose()
    {
        if (!_signaled)
        {
            PrimeInterop.Interop.Vgem.SignalFence((int)card.FileHandle.DangerousGetHandle(), id);
        }
    }
}
