using System.Diagnostics;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// Runs one test method again in a child test process with an environment variable set, for tests that change
/// process-wide state (resource limits, signal handlers) that must not leak into the rest of the run.
/// </summary>
public static class ChildTest
{
    /// <summary>True inside the child started by <see cref="Run"/> with this <paramref name="marker"/>.</summary>
    public static bool IsChild(string marker) => Environment.GetEnvironmentVariable(marker) == "1";

    public static void Run(Type testClass, string method, string marker)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { testClass.Assembly.Location, "-noColor", "-showLiveOutput", "-method", $"{testClass.FullName}.{method}" })
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment[marker] = "1";
        using var child = Process.Start(psi)!;
        var stderr = child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string stdout = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        TestContext.Current.TestOutputHelper?.WriteLine(stdout + stderr.Result);
        Assert.True(child.ExitCode == 0 && stdout.Contains("Total: 1, Errors: 0, Failed: 0, Skipped: 0", StringComparison.Ordinal),
            $"the child test run failed (exit {child.ExitCode}):\n{stdout}{stderr.Result}");
    }
}
