// PrimeInterop benchmark: the library against native/prime-bench (libdrm doing the same syscalls), side by side, in
// rounds that alternate which of C and C# goes first, on whatever kernel this runs on. Under QEMU's emulator the
// absolute times mean little; the ratio measured in one run does.
//   dotnet PrimeInterop.Bench.dll [ITERATIONS] [ROUNDS]
//   dotnet PrimeInterop.Bench.dll fence-latency [SAMPLES] [ROUNDS]   (FenceLatency.cs)
// Ends with one line, also written to $RIG_OUT/bench-line when RIG_OUT is set:
//   bench <uname -r>: export R, roundtrip R, dup-import R, lane-export R, lane-roundtrip R, lane-dup-import R,
//   fdpass-1 R, fdpass-4 R, scale-10k R; alloc export N B/op, roundtrip N B/op, lane N B/op, access N B/op
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using PrimeInterop;
using PrimeInterop.Bench;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args.Length > 0 && args[0] == "fence-latency")
{
    string nativeDir = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "native"));
    return await FenceLatency.RunAsync(nativeDir, args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50,
        args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5);
}

int iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20000;
int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 15;
string native = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "native", "prime-bench"));
if (!File.Exists(native))
{
    Console.Error.WriteLine($"bench: {native} is missing; run make -C native");
    return 2;
}

using var managed = new ManagedBench(native);

// Warm-up by time, not count: tiered JIT promotes hot methods after a delay measured in wall-clock time, which under
// emulation is long; measuring before that mixes tier-0 and tier-1 code.
for (var warm = Stopwatch.StartNew(); warm.Elapsed < TimeSpan.FromSeconds(4);)
{
    managed.Run(200);
}

string kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
Console.WriteLine($"PrimeInterop vs libdrm, {iterations} iterations x {rounds} rounds (fd passing: {Math.Max(1, iterations / 4)} messages), kernel {kernel}");
Console.WriteLine("""
      export          HANDLE_TO_FD on card + close                        (C#: ExportDmaBuf -> DmaBuf, disposed)
      roundtrip       + FD_TO_HANDLE on render + GEM_CLOSE               (C#: + ImportDmaBuf -> GemHandle, disposed)
      dup-import      FD_TO_HANDLE of a dma-buf render already holds      (C#: ImportDmaBuf + dispose; no GEM_CLOSE)
      lane-*          the same through the zero-allocation lane           (ExportScoped / ImportScoped)
      access          DMA_BUF_IOCTL_SYNC start + end on a mapped dma-buf  (C#: DmaBufMapping.BeginAccess + dispose)
      fdpass-N        one message with N dma-buf fds to a C echo peer and back, received fds closed (C#: SendWithFds, ReceiveWithFds)
      scale-10k       roundtrip into a render file that holds 10,000 other live handles
      floor-*         the floor of the SafeHandle API: raw ioctls + one bare SafeHandle per result, no table/lease/checks
                      (floor-fdpass-N: raw sendmsg/recvmsg from C#, stack memory only, the received fds closed)
      rules-*         the floor plus the least the library's rules add: a lease (AddRef/Release) on each SafeHandle a
                      call uses, and the handle table (lock held across FD_TO_HANDLE + count and last release + GEM_CLOSE;
                      other releases lock-free); rules-lane-* without the SafeHandle per result. A target these miss is
                      out of reach of any implementation that keeps the rules.
    """);

var columns = Paths.All;
var ratios = columns.ToDictionary(p => p, _ => new List<double>());
var factor10k = (CSharp: new List<double>(), C: new List<double>());
var minimum = columns.ToDictionary(p => p, _ => (CSharp: double.MaxValue, C: double.MaxValue));
Dictionary<string, double> alloc = [];
Console.WriteLine($"{"round",-5} " + string.Join(" ", columns.Select(p => $"{p,21}")) + "   (C ns / C# ns per op)");
for (int r = 1; r <= rounds; r++)
{
    // Alternate who goes first, so a drift in the guest (page cache, host load) does not favour one side.
    Dictionary<string, double> c, m;
    if (r % 2 == 1)
    {
        c = NativeBench.Run(native, iterations);
        (m, alloc) = managed.Run(iterations, rawFdPassFirst: r % 4 >= 2);
    }
    else
    {
        (m, alloc) = managed.Run(iterations, rawFdPassFirst: r % 4 >= 2);
        c = NativeBench.Run(native, iterations);
    }

    foreach (string p in columns)
    {
        ratios[p].Add(m[p] / c[Paths.NativeOf(p)]);
        minimum[p] = (Math.Min(minimum[p].CSharp, m[p]), Math.Min(minimum[p].C, c[Paths.NativeOf(p)]));
    }

    factor10k.CSharp.Add(m[Paths.Scale] / m[Paths.RoundTrip]);
    factor10k.C.Add(c[Paths.Scale] / c[Paths.RoundTrip]);
    Console.WriteLine($"{r,-5} " + string.Join(" ", columns.Select(p => $"{$"{c[Paths.NativeOf(p)]:F0}/{m[p]:F0}",21}")));
}

static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
static string Spread(List<double> v) => $"{Median(v):F2} [{v.Min():F2}-{v.Max():F2}]";

Console.WriteLine();
// The median of per-round ratios is the target's measure. Under a loaded host (other guests and builds on the same
// cores) it drifts with the load; the ratio of the fastest C# round to the fastest C round drifts far less, so it is
// shown beside it as a check.
Console.WriteLine($"{"path",-22} {"C#/C median [min-max]",24} {"min/min",8} {"C# B/op",8}");
foreach (string p in columns)
{
    Console.WriteLine($"{p,-22} {Spread(ratios[p]),24} {minimum[p].CSharp / minimum[p].C,8:F2} {alloc[p],8:F0}");
}

Console.WriteLine($"{"send (fdpass)",-22} {"",24} {"",8} {alloc[Paths.Send],8:F0}   (SendWithFds alone)");
Console.WriteLine($"import with 10,000 live handles vs 1 (roundtrip): C# {Spread(factor10k.CSharp)}, C {Spread(factor10k.C)}");

double lane = new[] { Paths.LaneExport, Paths.LaneRoundTrip, Paths.LaneDupImport }.Max(p => alloc[p]);
string line = $"bench {kernel}: export {Median(ratios[Paths.Export]):F2}, roundtrip {Median(ratios[Paths.RoundTrip]):F2}, " +
    $"dup-import {Median(ratios[Paths.DupImport]):F2}, lane-export {Median(ratios[Paths.LaneExport]):F2}, " +
    $"lane-roundtrip {Median(ratios[Paths.LaneRoundTrip]):F2}, lane-dup-import {Median(ratios[Paths.LaneDupImport]):F2}, " +
    $"fdpass-1 {Median(ratios[Paths.FdPass1]):F2}, fdpass-4 {Median(ratios[Paths.FdPass4]):F2}, scale-10k {Median(factor10k.CSharp):F2}; " +
    $"alloc export {alloc[Paths.Export]:F0} B/op, roundtrip {alloc[Paths.RoundTrip]:F0} B/op, lane {lane:F0} B/op, access {alloc[Paths.Access]:F0} B/op";
Console.WriteLine("scale-10k in the line below is C#'s own slowdown with 10,000 live handles (the target's measure); every other R is C#/C.");
Console.WriteLine(line);
if (Environment.GetEnvironmentVariable("RIG_OUT") is { Length: > 0 } outDir)
{
    File.WriteAllText(Path.Combine(outDir, "bench-line"), line + "\n");
}

return 0;
