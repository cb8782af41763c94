namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// Runs one test method again in a child test process with environment variables set, for tests that change
/// process-wide state (resource limits, signal handlers) that must not leak into the rest of the run, or that need
/// the runtime configured differently (W^X off).
/// </summary>
public static class ChildTest
{
    /// <summary>True inside the child started by <see cref="Run(Type, string, string)"/> with this <paramref name="marker"/>.</summary>
    public static bool IsChild(string marker) => Environment.GetEnvironmentVariable(marker) == "1";

    /// <summary>Runs the test in a child with <paramref name="marker"/>=1 set (see <see cref="IsChild"/>).</summary>
    public static void Run(Type testClass, string method, string marker) =>
        Run(testClass, method, new Dictionary<string, string> { [marker] = "1" });

    /// <summary>Runs the test in a child with <paramref name="environment"/> set; fails unless that one test passed.</summary>
    public static void Run(Type testClass, string method, IReadOnlyDictionary<string, string> environment)
    {
        var child = ChildProcess.Run("dotnet", [testClass.Assembly.Location, "-noColor", "-showLiveOutput", "-method", $"{testClass.FullName}.{method}"],
            environment, TimeSpan.FromMinutes(10));
        Assert.True(child.ExitCode == 0 && child.Out.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", StringComparison.Ordinal),
            $"the child test run of {method} failed (exit {child.ExitCode}):\n{child.Out}{child.Err}");
    }
}
