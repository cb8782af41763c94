// PrimeInterop benchmark: the library against native/prime-bench's loops (libdrm doing the same syscalls), side by
// side on whatever kernel this runs on. The C loops are loaded in-process (libprime-bench.so) and each runs right
// before and right after the C# loops of its path, on the same fds. Under QEMU's emulator the absolute times mean
// little; the ratio measured in one run does.
//   dotnet PrimeInterop.Bench.dll [ITERATIONS] [ROUNDS]
//   dotnet PrimeInterop.Bench.dll fence-latency [SAMPLES] [ROUNDS]   (FenceLatency.cs)
// Ends with one line, also written to $RIG_OUT/bench-line when RIG_OUT is set:
//   bench <uname -r>: export R, roundtrip R, dup-import R, lane-export R, lane-roundtrip R, lane-dup-import R,
//   fdpass-1 R, fdpass-4 R, scale-10k R; alloc export N B/op, roundtrip N B/op, lane N B/op, access N B/op
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
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
string nativeLoops = Path.Combine(Path.GetDirectoryName(native)!, "libprime-bench.so");
if (!File.Exists(native) || !File.Exists(nativeLoops))
{
    Console.Error.WriteLine($"bench: {native} or {nativeLoops} is missing; run make -C native");
    return 2;
}

// One process per path group (ManagedBench.Processes): this one starts them in turn and merges their rounds; each
// child (--process NAME) sets up its devices, warms up and measures its group, and prints one JSON row per round.
int processArg = Array.IndexOf(args, "--process");
if (processArg >= 0)
{
    return RunGroup(args[processArg + 1]);
}

var perRound = Enumerable.Range(0, rounds).Select(_ => new BenchRow(0, [], [], [], [])).ToArray();
foreach (string process in ManagedBench.Processes)
{
    // The same program again: `dotnet PrimeInterop.Bench.dll ...` as the rig runs it, or its apphost.
    var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
    if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
    {
        start.ArgumentList.Add(typeof(BenchRow).Assembly.Location);
    }

    foreach (string a in (string[])[$"{iterations}", $"{rounds}", "--process", process])
    {
        start.ArgumentList.Add(a);
    }

    using var child = Process.Start(start)!;
    while (child.StandardOutput.ReadLine() is { } output)
    {
        if (output.StartsWith("row ", StringComparison.Ordinal))
        {
            var row = JsonSerializer.Deserialize<BenchRow>(output[4..])!;
            var merged = perRound[row.Round - 1];
            foreach (var (into, from) in new[] { (merged.Ns, row.Ns), (merged.C, row.C), (merged.Alloc, row.Alloc), (merged.Faults, row.Faults) })
            {
                foreach (var kv in from)
                {
                    into[kv.Key] = kv.Value;
                }
            }
        }
        else
        {
            Console.WriteLine($"[{process}] {output}");
        }
    }

    child.WaitForExit();
    if (child.ExitCode != 0)
    {
        Console.Error.WriteLine($"bench: the {process} group failed (exit {child.ExitCode})");
        return 1;
    }
}

if (perRound.FirstOrDefault(row => Paths.All.Any(p => !row.Ns.ContainsKey(p))) is { } incomplete)
{
    Console.Error.WriteLine($"bench: round {Array.IndexOf(perRound, incomplete) + 1} lacks {string.Join(", ", Paths.All.Where(p => !incomplete.Ns.ContainsKey(p)))}");
    return 1;
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
      lane-fdpass-N   the same, received through the lane (SendWithFds, ReceiveScoped)
      scale-10k       roundtrip into a render file that holds 10,000 other live handles
      raw-*           the syscalls alone from C# (LibraryImport, as the library binds them): no SafeHandle/lease/table/check
                      (raw-fdpass-N: sendmsg/recvmsg on stack memory, the received fds closed)
      floor-*         the floor of the SafeHandle API: raw ioctls + one bare SafeHandle per result, no table/lease/checks
      rules-*         the floor plus the least the library's rules add: a hold on what a call uses (AddRef/Release on
                      the caller's SafeHandles, an inlined HolderCount on the GemHandle, device file and mapping), and the handle table (lock held across FD_TO_HANDLE + count and last release + GEM_CLOSE;
                      other releases lock-free); rules-lane-* without the SafeHandle per result but, like any lane, a
                      release on every path (exception handling, so one call per op that .NET does not inline);
                      rules-lane-cb-roundtrip that round trip in the lane's shape: each scope's body called through a
                      delegate with its state by reference (a static callback with state, as the lane's API), inlined
                      as the JIT sees fit;
                      rules-access with SYNC_END in a finally, where a `using` scope puts it; rules-fdpass-N
                      raw-fdpass with a lease on each DmaBuf sent and on the socket per call. A target these miss is
                      out of reach of any implementation that keeps the rules.
      part-*          rules-lane-dup-import in parts: part-holds-dup-import its holds and release on every path, with no
                      table or lock; part-lock-dup-import FD_TO_HANDLE inside the table's lock and nothing else.
    Each round runs every C loop (in-process, on the same fds) just before and just after the C# loops of its path,
    whose order flips every round; the C time is the mean of the two. Each group of paths (export; roundtrip with
    scale-10k; access; fdpass-1/4; dup-import) runs in a process of its own, warmed up on that group alone.
    """);

var columns = Paths.All;
var ratios = columns.ToDictionary(p => p, _ => new List<double>());
var factor10k = (CSharp: new List<double>(), C: new List<double>());
var minimum = columns.ToDictionary(p => p, _ => (CSharp: double.MaxValue, C: double.MaxValue));
var faults = columns.ToDictionary(p => p, _ => new List<double>());
Dictionary<string, double> alloc = [];
Console.WriteLine($"{"round",-5} " + string.Join(" ", columns.Select(p => $"{p,21}")) + "   (C ns / C# ns per op)");
for (int r = 1; r <= rounds; r++)
{
    (_, Dictionary<string, double> m, Dictionary<string, double> c, alloc, Dictionary<string, double> f) = perRound[r - 1];
    foreach (string p in columns)
    {
        ratios[p].Add(m[p] / c[Paths.NativeOf(p)]);
        faults[p].Add(f[p]);
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
// Faults: the minor page faults a loop took per 1,000 ops (median over rounds). A loop that allocates may be handed
// GC heap pages the kernel must map again (about 7,000 instructions each in the icount clock), or not, by how the GC
// reuses its regions, which follows the order of the loops; the last column is the median of the rounds whose loop
// took under one fault per 1,000 ops, with how many rounds that was. It is not the target's measure; it shows what
// the faults add.
Console.WriteLine($"{"path",-22} {"C#/C median [min-max]",24} {"min/min",8} {"C# B/op",8} {"faults/1k",10} {"without faults",16}");
foreach (string p in columns)
{
    var quiet = ratios[p].Where((_, i) => faults[p][i] < 1).ToList();
    string withoutFaults = quiet.Count == 0 ? "-" : $"{Median(quiet):F2} ({quiet.Count}/{rounds})";
    Console.WriteLine($"{p,-22} {Spread(ratios[p]),24} {minimum[p].CSharp / minimum[p].C,8:F2} {alloc[p],8:F0} {Median(faults[p]),10:F1} {withoutFaults,16}");
}

Console.WriteLine($"{"send (fdpass)",-22} {"",24} {"",8} {alloc[Paths.Send],8:F0}   (SendWithFds alone)");
Console.WriteLine($"import with 10,000 live handles vs 1 (roundtrip): C# {Spread(factor10k.CSharp)}, C {Spread(factor10k.C)}");

double lane = new[] { Paths.LaneExport, Paths.LaneRoundTrip, Paths.LaneDupImport, Paths.LaneFdPass1, Paths.LaneFdPass4 }.Max(p => alloc[p]);
string line = $"bench {kernel}: export {Median(ratios[Paths.Export]):F2}, roundtrip {Median(ratios[Paths.RoundTrip]):F2}, " +
    $"dup-import {Median(ratios[Paths.DupImport]):F2}, lane-export {Median(ratios[Paths.LaneExport]):F2}, " +
    $"lane-roundtrip {Median(ratios[Paths.LaneRoundTrip]):F2}, lane-dup-import {Median(ratios[Paths.LaneDupImport]):F2}, " +
    $"fdpass-1 {Median(ratios[Paths.FdPass1]):F2}, fdpass-4 {Median(ratios[Paths.FdPass4]):F2}, " +
    $"lane-fdpass-1 {Median(ratios[Paths.LaneFdPass1]):F2}, lane-fdpass-4 {Median(ratios[Paths.LaneFdPass4]):F2}, scale-10k {Median(factor10k.CSharp):F2}; " +
    $"alloc export {alloc[Paths.Export]:F0} B/op, roundtrip {alloc[Paths.RoundTrip]:F0} B/op, lane {lane:F0} B/op, access {alloc[Paths.Access]:F0} B/op";
Console.WriteLine("scale-10k in the line below is C#'s own slowdown with 10,000 live handles (the target's measure); every other R is C#/C.");
Console.WriteLine(line);
if (Environment.GetEnvironmentVariable("RIG_OUT") is { Length: > 0 } outDir)
{
    File.WriteAllText(Path.Combine(outDir, "bench-line"), line + "\n");
}

return 0;

int RunGroup(string process)
{
    using var managed = new ManagedBench(native, new NativeLoops(nativeLoops));

    // Warm-up until the JIT is done: tiered compilation promotes a hot method twice (tier 0, then an instrumented tier for
    // dynamic PGO, then the final tier 1), each after a delay measured in wall-clock time, which under emulation is long.
    // Measuring before the last promotion mixes tiers, and whether it happened by a fixed time differed from run to run
    // (seen as two distinct results of one build in the rig's instruction-counted clock). So: at least 4 s, and until no
    // method has been compiled for 2 s.
    var warmUp = Stopwatch.StartNew();
    var jitQuiet = Stopwatch.StartNew();
    long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
    while (warmUp.Elapsed < TimeSpan.FromSeconds(4) || jitQuiet.Elapsed < TimeSpan.FromSeconds(2))
    {
        managed.Run(200, 0, process);
        long now = System.Runtime.JitInfo.GetCompiledMethodCount();
        if (now != compiled)
        {
            compiled = now;
            jitQuiet.Restart();
        }

        if (warmUp.Elapsed > TimeSpan.FromSeconds(120))
        {
            Console.WriteLine("bench: the JIT was still compiling after 120 s of warm-up; measuring anyway");
            break;
        }
    }

    Console.WriteLine($"warm-up: {warmUp.Elapsed.TotalSeconds:F1} s, {compiled} methods compiled");
    for (int r = 1; r <= rounds; r++)
    {
        var (ns, c, alloc, faults) = managed.Run(iterations, r, process);
        Console.WriteLine("row " + JsonSerializer.Serialize(new BenchRow(r, ns, c, alloc, faults)));
    }

    return 0;
}

/// <summary>One round of one group: C# ns, C ns, B/op and faults per 1,000 ops by path (C by scenario).</summary>
internal sealed record BenchRow(int Round, Dictionary<string, double> Ns, Dictionary<string, double> C, Dictionary<string, double> Alloc, Dictionary<string, double> Faults);
