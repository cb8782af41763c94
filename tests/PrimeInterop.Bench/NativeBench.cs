using System.Diagnostics;
using System.Globalization;

namespace PrimeInterop.Bench;

/// <summary>One run of native/prime-bench, in its own process: "scenario ns-per-op" lines.</summary>
internal static class NativeBench
{
    public static Dictionary<string, double> Run(string native, int iterations)
    {
        using var p = Process.Start(new ProcessStartInfo(native, iterations.ToString(CultureInfo.InvariantCulture)) { RedirectStandardOutput = true })!;
        var values = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ')).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
        p.WaitForExit();
        return p.ExitCode == 0 ? values : throw new InvalidOperationException($"prime-bench exited {p.ExitCode}");
    }
}
