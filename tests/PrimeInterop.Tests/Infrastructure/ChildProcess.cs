using System.Diagnostics;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>What a child process printed and how it ended.</summary>
/// <param name="Name">The program, for messages.</param>
/// <param name="ExitCode">Its exit code.</param>
/// <param name="Out">All of its standard output.</param>
/// <param name="Err">All of its standard error.</param>
public sealed record ChildResult(string Name, int ExitCode, string Out, string Err)
{
    /// <summary>Fails the test, with everything the child printed, unless it exited with <paramref name="expected"/>.</summary>
    public ChildResult AssertExitCode(int expected = 0)
    {
        Assert.True(ExitCode == expected, $"{Name} exited {ExitCode}, not {expected}:\n{Out}{Err}");
        return this;
    }
}

/// <summary>
/// The one way the tests run another program: both output streams redirected and read to the end concurrently (so
/// neither pipe can fill and stall the child), a time limit, the output in the test's log, and the pipes closed
/// before returning (Process.Dispose leaves a synchronously read pipe open, which the leak oracle would count).
/// </summary>
public static class ChildProcess
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Starts <paramref name="file"/>; talk to it, then <see cref="Finish"/> it. Dispose the process too.</summary>
    public static Process Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        return Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
    }

    /// <summary>
    /// Reads a started child's output to the end and waits for it to exit. A child still running after
    /// <paramref name="timeout"/> (default two minutes) is killed and fails the test.
    /// </summary>
    public static ChildResult Finish(Process child, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(child);
        string name = Path.GetFileName(child.StartInfo.FileName);
        TimeSpan limit = timeout ?? DefaultTimeout;
        var stdout = child.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        bool exited = child.WaitForExit(limit);
        if (!exited)
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
        }

        string output = stdout.GetAwaiter().GetResult(), errors = stderr.GetAwaiter().GetResult();
        child.StandardOutput.Dispose();
        child.StandardError.Dispose();
        TestContext.Current.TestOutputHelper?.WriteLine($"{name} exited {child.ExitCode}\n{output}{errors}");
        Assert.True(exited, $"{name} did not exit within {limit.TotalSeconds} s (killed):\n{output}{errors}");
        return new ChildResult(name, child.ExitCode, output, errors);
    }

    /// <summary>Runs <paramref name="file"/> to the end.</summary>
    public static ChildResult Run(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        using var child = Start(file, args, environment);
        return Finish(child, timeout);
    }
}
