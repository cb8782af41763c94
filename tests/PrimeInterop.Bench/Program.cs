// PrimeInterop benchmark: the library against native/prime-bench's loops (libdrm doing the same syscalls), side by
// side on whatever kernel this runs on. The C loops are loaded in-process (libprime-bench.so) and each runs right
// before and right after the C# loops of its path, on the same fds. Under QEMU's emulator the absolute times mean
// little; the ratio measured in one run does.
//   dotnet PrimeInterop.Bench.dll [ITERATIONS] [ROUNDS] [--label a] [--clock icount] [--commit C] [--qemu V] [--gcc V] [--libdrm V]
//   dotnet PrimeInterop.Bench.dll docs TEMPLATE OUT.md RESULTS.json...   (docs/benchmarks.md from the latest results)
// Begins with the bench-env line and ends with the bench line (Report.cs); with RIG_OUT set, writes both there
// (bench-line) with every path's figures (bench.json).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using PrimeInterop.Bench;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args.Length > 0 && args[0] == "docs")
{
    return Report.WriteDocs(args[1], args[2], args[3..]);
}

string[] positional = [.. args.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal))];
int iterations = positional.Length > 0 ? int.Parse(positional[0], CultureInfo.InvariantCulture) : 20000;
int rounds = positional.Length > 1 ? int.Parse(positional[1], CultureInfo.InvariantCulture) : 15;
string? Option(string name) => Array.IndexOf(args, name) is int i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
string native = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "native", "prime-bench"));
string nativeLoops = Path.Combine(Path.GetDirectoryName(native)!, "libprime-bench.so");
if (!File.Exists(native) || !File.Exists(nativeLoops))
{
    Console.Error.WriteLine($"bench: {native} or {nativeLoops} is missing; run make -C native");
    return 2;
}

// One process per path group (ManagedBench.Processes): this one starts them in turn and merges their rounds; each
// child (--process NAME) sets up its devices, warms up and measures its group, and prints one JSON row per round.
if (Option("--process") is { } group)
{
    return RunGroup(group);
}

string env = $"bench-env: commit {Option("--commit") ?? "unknown"}, .NET {Environment.Version}, QEMU {Option("--qemu") ?? "unknown"}, " +
    $"gcc {Option("--gcc") ?? "unknown"}, libdrm {Option("--libdrm") ?? "unknown"}, clock {Option("--clock") ?? "unknown"}, {iterations}x{rounds}";
Console.WriteLine(env);

var perRound = Enumerable.Range(0, rounds).Select(_ => new BenchRow(0, [], [], [], [])).ToArray();
var unavailable = new Dictionary<string, string>(); // path: why this kernel cannot run it (the flip without vkms)
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

    foreach (var (name, value) in ManagedBench.EnvironmentOf(process))
    {
        if (value is null)
        {
            start.Environment.Remove(name); // the runtime's default, whatever this process was given
        }
        else
        {
            start.Environment[name] = value;
        }
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
        else if (output.StartsWith("unavailable ", StringComparison.Ordinal))
        {
            string reason = output["unavailable ".Length..];
            foreach (string path in Paths.OfGroup(process))
            {
                unavailable[path] = reason;
            }

            Console.WriteLine($"[{process}] not measured: {reason}");
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

string[] measured = [.. Paths.All.Where(p => !unavailable.ContainsKey(p))];
if (perRound.FirstOrDefault(row => measured.Any(p => !row.Ns.ContainsKey(p))) is { } incomplete)
{
    Console.Error.WriteLine($"bench: round {Array.IndexOf(perRound, incomplete) + 1} lacks {string.Join(", ", measured.Where(p => !incomplete.Ns.ContainsKey(p)))}");
    return 1;
}

string kernel = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
Results results = Report.Summarize(perRound, env, kernel, Option("--label") ?? "host", iterations, rounds, unavailable);
Report.Print(results);
if (Environment.GetEnvironmentVariable("RIG_OUT") is { Length: > 0 } outDir)
{
    File.WriteAllText(Path.Combine(outDir, "bench-line"), $"{results.Env}\n{results.Line}\n");
    File.WriteAllText(Path.Combine(outDir, "bench.json"), JsonSerializer.Serialize(results, Report.Json));
}

return 0;

int RunGroup(string process)
{
    using var managed = new ManagedBench(native, new NativeLoops(nativeLoops));
    if (managed.Unavailable(process) is { } reason)
    {
        Console.WriteLine($"unavailable {reason}");
        return 0;
    }

    // Warm-up until the JIT is done, or measuring mixes tiers. Tiered compilation promotes a hot method twice (tier 0,
    // an instrumented tier for dynamic PGO, tier 1), each after 30 calls and a delay in wall-clock time with no first
    // call of any method (1 s on one CPU). A first call of a precompiled method restarts that delay without compiling
    // anything, so a JIT quiet for 2 s can still be in tier 0 (a group then measured 1.4-2.3 times its figures); an
    // idle pause lets the delay run out. So: passes of at least 40 runs and until nothing was compiled for 2 s (the
    // first at least 4 s), each after a pause, until a pass compiles nothing. The flip group idles in every frame (its
    // vblank) and takes one pass: paused, it went on promoting a method now and then for 120 s.
    var warmUp = Stopwatch.StartNew();
    long compiled = System.Runtime.JitInfo.GetCompiledMethodCount(), beforePass;
    int runs = 0, passes = 0, maxPasses = process is Paths.Flip or Paths.FlipPoolSpin ? 1 : 6;
    do
    {
        if (passes > 0)
        {
            Thread.Sleep(TimeSpan.FromSeconds(1.5));
        }

        beforePass = compiled;
        var jitQuiet = Stopwatch.StartNew();
        var passTime = Stopwatch.StartNew();
        for (int passRuns = 0; passRuns < 40 || passTime.Elapsed < TimeSpan.FromSeconds(passes == 0 ? 4 : 2) || jitQuiet.Elapsed < TimeSpan.FromSeconds(2); passRuns++, runs++)
        {
            // A round's row is made here too (and dropped): its serializer's methods are promoted in the warm-up, not
            // compiled in the background during the first rounds' loops (seen as a C loop of the flip group at 2-7x).
            var (ns, c, alloc, faults) = managed.Run(200, 0, process);
            _ = JsonSerializer.Serialize(new BenchRow(0, ns, c, alloc, faults));
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

        passes++;
    }
    while (compiled != beforePass && passes < maxPasses && warmUp.Elapsed <= TimeSpan.FromSeconds(120));

    Console.WriteLine($"warm-up: {warmUp.Elapsed.TotalSeconds:F1} s, {runs} runs, {passes - 1} pauses, {compiled} methods compiled");
    for (int r = 1; r <= rounds; r++)
    {
        var (ns, c, alloc, faults) = managed.Run(iterations, r, process);
        Console.WriteLine("row " + JsonSerializer.Serialize(new BenchRow(r, ns, c, alloc, faults)));
    }

    return 0;
}

/// <summary>One round of one group: C# ns, C ns, B/op and faults per 1,000 ops by path (C by scenario).</summary>
internal sealed record BenchRow(int Round, Dictionary<string, double> Ns, Dictionary<string, double> C, Dictionary<string, double> Alloc, Dictionary<string, double> Faults);
