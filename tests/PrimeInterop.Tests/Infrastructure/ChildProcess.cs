using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;

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

    /// <summary>
    /// The user-mode emulator this test process runs under, or null: PRIMEINTEROP_TEST_EMULATOR, set by build.cake's
    /// arm64 run on an x86-64 machine (qemu-aarch64-static). The kernel there cannot start an arm64 program itself (no
    /// binfmt_misc registration is assumed), so <see cref="Start"/> has the emulator start each one; the machine's own
    /// programs (make, /bin/sh) start as they are.
    /// </summary>
    public static string? Emulator { get; } = Environment.GetEnvironmentVariable("PRIMEINTEROP_TEST_EMULATOR") is { Length: > 0 } e ? e : null;

    /// <summary>
    /// Starts the .NET program <paramref name="assembly"/> the way this process was started: by the dotnet host when
    /// this process runs under it, else (a self-contained publish: the arm64 run) by the app's own executable beside
    /// the assembly, which uses the runtime published with it.
    /// </summary>
    public static Process StartDotnet(string assembly, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        string appHost = Path.ChangeExtension(assembly, null);
        return Path.GetFileNameWithoutExtension(Environment.ProcessPath) != "dotnet" && File.Exists(appHost)
            ? Start(appHost, args, environment)
            : Start("dotnet", [assembly, .. args], environment);
    }

    /// <summary>Runs the .NET program <paramref name="assembly"/> to the end, started as <see cref="StartDotnet"/> does.</summary>
    public static ChildResult RunDotnet(string assembly, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        using var child = StartDotnet(assembly, args, environment);
        return Finish(child, timeout);
    }

    /// <summary>Starts <paramref name="file"/>; talk to it, then <see cref="Finish"/> it. Dispose the process too.</summary>
    public static Process Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (Emulator is not null && IsElfOfThisArchitecture(file))
        {
            (file, args) = (Emulator, [file, .. args]);
        }

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
        string name = Path.GetFileName(child.StartInfo.FileName == Emulator ? child.StartInfo.ArgumentList[0] : child.StartInfo.FileName);
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

    /// <summary>Whether <paramref name="file"/> (a path) is an ELF executable for this process's architecture (e_machine).</summary>
    private static bool IsElfOfThisArchitecture(string file)
    {
        Span<byte> header = stackalloc byte[20];
        try
        {
            using var stream = File.OpenRead(file);
            if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length || !header[..4].SequenceEqual("\u007fELF"u8))
            {
                return false;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // not a path (a name looked up on PATH), or unreadable: the machine's own program
        }

        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(header[18..]);
        return RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.Arm64 => machine == 183, // EM_AARCH64
            Architecture.X64 => machine == 62, // EM_X86_64
            _ => false,
        };
    }

    /// <summary>Runs <paramref name="file"/> to the end.</summary>
    public static ChildResult Run(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        using var child = Start(file, args, environment);
        return Finish(child, timeout);
    }
}
