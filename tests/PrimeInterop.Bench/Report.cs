using System.Globalization;
using System.Text;
using System.Text.Json;

namespace PrimeInterop.Bench;

/// <summary>One path's figures over the rounds of a run.</summary>
/// <param name="Path">The path (Paths).</param>
/// <param name="Median">C#/C, the median over the rounds (the target's measure).</param>
/// <param name="Min">The lowest round's ratio.</param>
/// <param name="Max">The highest round's ratio.</param>
/// <param name="MinOverMin">The fastest C# round over the fastest C round: drifts less than the median under load.</param>
/// <param name="BytesPerOp">Managed bytes allocated per op, all threads (the last round's).</param>
/// <param name="FaultsPer1k">Minor page faults per 1,000 ops of the C# loop (median).</param>
/// <param name="WithoutFaults">The median ratio of the rounds that took under one fault per 1,000 ops, if any did.</param>
/// <param name="QuietRounds">How many rounds that was.</param>
/// <param name="CsharpNs">C# ns per op (median): under the icount clock, instructions.</param>
/// <param name="CNs">C ns per op (median).</param>
/// <param name="VsLocked">C# against C through libdrm_amdgpu's kind of handle table (import paths), median.</param>
internal sealed record PathResult(string Path, double Median, double Min, double Max, double MinOverMin, double BytesPerOp, double FaultsPer1k,
    double? WithoutFaults, int QuietRounds, double CsharpNs, double CNs, double? VsLocked);

/// <summary>One run on one kernel: what docs/benchmarks.md is made of (artifacts/bench/&lt;label&gt;.json).</summary>
/// <param name="Unavailable">The paths this kernel cannot run, and why (the flip without vkms).</param>
internal sealed record Results(string Env, string Kernel, string Label, string Line, int Iterations, int Rounds, string Date,
    List<PathResult> Paths, double ScaleC, double SendBytes, Dictionary<string, string>? Unavailable);

/// <summary>The run's summary: the console table, the bench line, the JSON, and docs/benchmarks.md from the JSON.</summary>
internal static class Report
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static Results Summarize(BenchRow[] perRound, string env, string kernel, string label, int iterations, int rounds, Dictionary<string, string> unavailable)
    {
        var paths = new List<PathResult>();
        foreach (string p in Paths.All.Where(p => !unavailable.ContainsKey(p)))
        {
            string c = Paths.NativeOf(p);
            var ratios = perRound.Select(r => r.Ns[p] / r.C[c]).ToList();
            var faults = perRound.Select(r => r.Faults[p]).ToList();
            var quiet = ratios.Where((_, i) => faults[i] < 1).ToList();
            double? locked = Paths.LockedOf(p) is { } l ? Median(perRound.Select(r => r.Ns[p] / r.C[l])) : null;
            paths.Add(new PathResult(p, Median(ratios), ratios.Min(), ratios.Max(), perRound.Min(r => r.Ns[p]) / perRound.Min(r => r.C[c]),
                perRound[^1].Alloc[p], Median(faults), quiet.Count == 0 ? null : Median(quiet), quiet.Count,
                Median(perRound.Select(r => r.Ns[p])), Median(perRound.Select(r => r.C[c])), locked));
        }

        // scale-10k is C#'s own slowdown with 10,000 live handles against 1 (the target's measure), C's beside it.
        var scale = perRound.Select(r => r.Ns[Paths.Scale] / r.Ns[Paths.RoundTrip]).ToList();
        int at = paths.FindIndex(r => r.Path == Paths.Scale);
        paths[at] = paths[at] with { Median = Median(scale), Min = scale.Min(), Max = scale.Max() };
        double scaleC = Median(perRound.Select(r => r.C[Paths.Scale] / r.C[Paths.RoundTrip]));

        var byPath = paths.ToDictionary(r => r.Path);
        string R(string p) => byPath[p].Median.ToString("F2", CultureInfo.InvariantCulture);
        string B(params string[] ps) => ps.Max(p => byPath[p].BytesPerOp).ToString("F0", CultureInfo.InvariantCulture);
        string line = $"bench {kernel}: export {R(Paths.Export)}, roundtrip {R(Paths.RoundTrip)}, dup-import {R(Paths.DupImport)}, " +
            $"lane-export {R(Paths.LaneExport)}, lane-roundtrip {R(Paths.LaneRoundTrip)}, lane-dup-import {R(Paths.LaneDupImport)}, " +
            $"fdpass-1 {R(Paths.FdPass1)}, fdpass-4 {R(Paths.FdPass4)}, lane-fdpass-1 {R(Paths.LaneFdPass1)}, lane-fdpass-4 {R(Paths.LaneFdPass4)}, " +
            $"scale-10k {R(Paths.Scale)}, wait-1 {R(Paths.Wait1)}, wait-1k {R(Paths.Wait1k)}, reimport {R(Paths.Reimport)}, " +
            (unavailable.TryGetValue(Paths.Flip, out string? why) ? $"flip n/a ({why})" : $"flip {R(Paths.Flip)}, flip-pool-spin {R(Paths.FlipPoolSpin)}") + "; " +
            $"alloc export {B(Paths.Export)} B/op, roundtrip {B(Paths.RoundTrip)} B/op, " +
            $"lane {B(Paths.LaneExport, Paths.LaneRoundTrip, Paths.LaneDupImport, Paths.LaneFdPass1, Paths.LaneFdPass4)} B/op, " +
            $"access {B(Paths.Access)} B/op, wait {B(Paths.Wait1, Paths.Wait1k)} B/op" +
            (why is null ? $", flip {B(Paths.Flip)} B/frame" : "");
        return new Results(env, kernel, label, line, iterations, rounds, DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            paths, scaleC, perRound[^1].Alloc[Paths.Send], unavailable);
    }

    public static void Print(Results results)
    {
        Console.WriteLine($"PrimeInterop vs libdrm, {results.Iterations} iterations x {results.Rounds} rounds, kernel {results.Kernel}");
        Console.WriteLine($"{"path",-24} {"C#/C median [min-max]",24} {"min/min",8} {"vs C+table",10} {"C# B/op",8} {"faults/1k",10} {"without faults",16}");
        foreach (PathResult r in results.Paths)
        {
            string locked = r.VsLocked is { } v ? v.ToString("F2", CultureInfo.InvariantCulture) : "";
            Console.WriteLine($"{r.Path,-24} {Spread(r),24} {r.MinOverMin,8:F2} {locked,10} {r.BytesPerOp,8:F0} {r.FaultsPer1k,10:F1} {WithoutFaults(r),16}");
        }

        Console.WriteLine($"send of existing DmaBufs (4 fds): {results.SendBytes:F0} B/op; scale-10k is C#'s own slowdown (C's: {results.ScaleC:F2}); every other R is C#/C");
        Console.WriteLine(results.Env);
        Console.WriteLine(results.Line);
    }

    /// <summary>
    /// docs/benchmarks.md: <paramref name="template"/> with its placeholders filled from the results of each kernel
    /// (the JSON files the Bench target keeps in artifacts/bench): {{env}}, {{lines}}, {{targets}}, {{table}}.
    /// </summary>
    public static int WriteDocs(string template, string output, string[] resultFiles)
    {
        var runs = resultFiles.Select(f => JsonSerializer.Deserialize<Results>(File.ReadAllText(f), Json)!).ToList();
        if (runs.Count == 0)
        {
            Console.Error.WriteLine("bench docs: no results");
            return 2;
        }

        string text = File.ReadAllText(template)
            .Replace("{{env}}", Code(runs.Select(r => r.Env).Distinct()), StringComparison.Ordinal)
            .Replace("{{lines}}", Code(runs.Select(r => r.Line)), StringComparison.Ordinal)
            .Replace("{{targets}}", Targets(runs), StringComparison.Ordinal)
            .Replace("{{table}}", Table(runs), StringComparison.Ordinal)
            .Replace("{{dates}}", string.Join(", ", runs.Select(r => $"{r.Kernel} {r.Date}")), StringComparison.Ordinal);
        File.WriteAllText(output, text);
        Console.WriteLine($"bench docs: {output} from {string.Join(", ", resultFiles)}");
        return 0;
    }

    private static string Code(IEnumerable<string> lines) => "```\n" + string.Join("\n", lines) + "\n```";

    private static string Targets(List<Results> runs)
    {
        var s = new StringBuilder();
        s.Append("| path | target | ").AppendJoin(" | ", runs.Select(r => r.Kernel)).Append(" |\n|---|---|");
        s.Append(string.Concat(runs.Select(_ => "---|"))).Append('\n');
        foreach (var (path, (max, noAllocation)) in Paths.Targets)
        {
            s.Append($"| {path} | <= {max:F2}{(noAllocation ? ", 0 B/op" : "")} |");
            foreach (Results run in runs)
            {
                if (run.Paths.FirstOrDefault(p => p.Path == path) is not { } r)
                {
                    s.Append($" n/a: {Why(run, path)} |");
                    continue;
                }

                bool met = Math.Round(r.Median, 2) <= max && (!noAllocation || Math.Round(r.BytesPerOp) == 0);
                s.Append($" {r.Median:F2}{(noAllocation ? $", {r.BytesPerOp:F0} B/op" : "")}: {(met ? "met" : "**not met**")} |");
            }

            s.Append('\n');
        }

        return s.ToString().TrimEnd();
    }

    private static string Table(List<Results> runs)
    {
        var s = new StringBuilder();
        s.Append("| path | what | ").AppendJoin(" | ", runs.Select(r => $"{r.Kernel}: median [min-max], vs C+table, B/op, faults/1k, without faults (rounds)"));
        s.Append(" |\n|---|---|").Append(string.Concat(runs.Select(_ => "---|"))).Append('\n');
        foreach (string path in Paths.All)
        {
            s.Append($"| {path} | {Role(runs, path)}{Paths.What[path]} |");
            foreach (Results run in runs)
            {
                if (run.Paths.FirstOrDefault(p => p.Path == path) is not { } r)
                {
                    s.Append($" n/a ({Why(run, path)}) |");
                    continue;
                }

                string locked = r.VsLocked is { } v ? $"{v:F2}" : "-";
                s.Append($" {Spread(r)}, {locked}, {r.BytesPerOp:F0}, {r.FaultsPer1k:F1}, {WithoutFaults(r)} |");
            }

            s.Append('\n');
        }

        s.Append("| scale-10k, C | C's own slowdown with 10,000 live handles |").AppendJoin("", runs.Select(r => $" {r.ScaleC:F2} |")).Append('\n');
        s.Append("| send of existing DmaBufs (4 fds) | SendWithFds alone, 0 B/op |").AppendJoin("", runs.Select(r => $" {r.SendBytes:F0} B/op |"));
        return s.ToString();
    }

    /// <summary>
    /// A floor-* or rules-* variant is a floor where the library's path measures at or above it on every kernel; where
    /// the library is below it, it is a variant (another way to keep the rules), and says so.
    /// </summary>
    private static string Role(List<Results> runs, string path)
    {
        if (Paths.LibraryOf(path) is not { } library)
        {
            return "";
        }

        bool below = runs.Any(run => run.Paths.FirstOrDefault(p => p.Path == library) is { } l && run.Paths.FirstOrDefault(p => p.Path == path) is { } v && l.Median < v.Median - 0.005);
        return below ? $"variant ({library} is below it): " : $"floor of {library}: ";
    }

    private static string Why(Results run, string path) => run.Unavailable?.GetValueOrDefault(path) ?? "not measured in this run";

    private static string Spread(PathResult r) => $"{r.Median:F2} [{r.Min:F2}-{r.Max:F2}]";

    private static string WithoutFaults(PathResult r) => r.WithoutFaults is { } q ? $"{q:F2} ({r.QuietRounds})" : "-";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
