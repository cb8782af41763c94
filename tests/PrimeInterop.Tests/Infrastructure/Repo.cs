using System.Reflection;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>Paths in the repository the tests run from: its root, the native helpers, the samples' builds.</summary>
public static class Repo
{
    /// <summary>The directory holding PrimeInterop.sln, above the test assembly.</summary>
    public static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PrimeInterop.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("cannot find the repository root (PrimeInterop.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// The path of a native helper, built with make when it is missing (it is, on a plain `dotnet test`). Under
    /// emulation (<see cref="ChildProcess.Emulator"/>: the arm64 run on an x86-64 machine) the cross-built ones,
    /// artifacts/native-arm64 (`make -C native arm64`: the layout probe only).
    /// </summary>
    public static string NativeProgram(string name)
    {
        string root = Root();
        bool emulated = ChildProcess.Emulator is not null;
        string path = Path.Combine(root, "artifacts", emulated ? "native-arm64" : "native", name);
        if (!File.Exists(path))
        {
            ChildProcess.Run("make", ["-s", "-C", Path.Combine(root, "native"), .. emulated ? ["arm64"] : Array.Empty<string>()]).AssertExitCode();
        }

        return path;
    }

    /// <summary>
    /// The build configuration of the test assembly (<c>release</c>, <c>debug</c>), as artifacts/bin names it: the
    /// samples a test runs come from the same `dotnet build -c` (build.cake's --configuration) as the tests.
    /// </summary>
    public static string Configuration { get; } =
        (typeof(Repo).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release").ToLowerInvariant();

    /// <summary>
    /// A sample's assembly: the copy beside the test assembly (the test project references the samples), so that a
    /// ReadyToRun publish of the tests (the rig's) runs them precompiled too; else its own build,
    /// artifacts/bin/primectl/release/primectl.dll.
    /// </summary>
    public static string SampleAssembly(string project)
    {
        string beside = Path.Combine(AppContext.BaseDirectory, project + ".dll");
        if (File.Exists(beside) && File.Exists(Path.ChangeExtension(beside, ".runtimeconfig.json")))
        {
            return beside;
        }

        string dll = Path.Combine(Root(), "artifacts", "bin", project, Configuration, project + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is missing; build the solution first (dotnet build PrimeInterop.sln -c {Configuration})");
        return dll;
    }
}
