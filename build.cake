// PrimeInterop build. Run with: dotnet tool restore && dotnet cake --target=<Target>
//   Clean  Build  Test (host tests, then the rig; the README's test command)  Rig (rig only)
//   Demo (the sample CLI's demo: directly where vgem is loaded, else in the rig)  Bench  Pack
//   Soak (tests/PrimeInterop.Soak for --seconds=N, default 60, on kernel A or directly where vgem and vkms are)
// Arguments: --configuration=Release  --kernels=a,b  --rig=auto|always|never  --rig-parallel=true|false
//   --soak-seconds=10 (Test/Rig: the soak after the tests in kernel A's guest; 0 leaves it out)
// No #addin or #tool: everything here is Cake's own or the .NET runtime's.
using System.Xml.Linq;

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var kernels = Argument("kernels", "a,b").Split(',', StringSplitOptions.RemoveEmptyEntries);
var rigMode = Argument("rig", EnvironmentVariable("PRIMEINTEROP_RIG_MODE") ?? "auto");
var rigParallel = Argument("rig-parallel", false); // sequential streams each guest console; parallel measured no faster on 2 cores

var root = MakeAbsolute(Directory("."));
var artifacts = root.Combine("artifacts");
var config = configuration.ToLowerInvariant();
var testDll = artifacts.CombineWithFilePath($"bin/PrimeInterop.Tests/{config}/PrimeInterop.Tests.dll");
var primectlDll = artifacts.CombineWithFilePath($"bin/primectl/{config}/primectl.dll");
var soakDll = artifacts.CombineWithFilePath($"bin/PrimeInterop.Soak/{config}/PrimeInterop.Soak.dll");
var soakSeconds = Argument("soak-seconds", 10);
var rigScript = root.CombineWithFilePath("tests/rig/rig.sh");
var results = new List<(string Label, TestCounts Counts)>();
var soakLines = new List<(string Line, bool Ok)>();

// vgem loaded on this machine: tests and the demo run here directly, no VM.
bool HostHasVgem() =>
    System.IO.Directory.Exists("/sys/class/drm") &&
    System.IO.Directory.EnumerateDirectories("/sys/class/drm").Any(d =>
    {
        var link = new System.IO.DirectoryInfo(System.IO.Path.Combine(d, "device"));
        try { return link.Exists && link.ResolveLinkTarget(true)?.Name == "vgem"; } catch { return false; }
    });

bool UseRig() => rigMode switch
{
    "always" => true,
    "never" => false,
    _ => !HostHasVgem(),
};

int Run(string file, string args, bool throwOnError = true)
{
    var code = StartProcess(file, new ProcessSettings { Arguments = args, WorkingDirectory = root });
    if (code != 0 && throwOnError) throw new Exception($"{file} {args} exited with {code}");
    return code;
}

// Runs `command` in a guest of `kernel`; the guest's files (serial.log, uname, what the command writes to
// /tmp/rig-out) land in a fresh artifacts/rig/<name>. Returns that folder and rig.sh's exit code.
(DirectoryPath OutDir, int Code) RunInRig(string kernel, string name, string command, bool quiet = false)
{
    var outDir = artifacts.Combine($"rig/{name}");
    EnsureDirectoryExists(outDir);
    CleanDirectory(outDir);
    var code = StartProcess("bash", new ProcessSettings
    {
        Arguments = $"\"{rigScript}\" run {kernel} \"{outDir}\" -- {command}",
        WorkingDirectory = root,
        EnvironmentVariables = quiet ? new Dictionary<string, string> { ["RIG_QUIET"] = "1" } : null,
    });
    return (outDir, code);
}

TestCounts ReadResults(FilePath xml, string label)
{
    var doc = XDocument.Load(xml.FullPath);
    var counts = new TestCounts();
    foreach (var a in doc.Descendants("assembly"))
    {
        counts.Passed += (int)a.Attribute("passed");
        counts.Failed += (int)a.Attribute("failed") + ((int?)a.Attribute("errors") ?? 0);
        counts.Skipped += (int)a.Attribute("skipped");
    }
    foreach (var t in doc.Descendants("test"))
    {
        var result = (string)t.Attribute("result");
        if (result == "Skip")
            Information($"  {label} skipped {t.Attribute("name")?.Value}: {t.Element("reason")?.Value}");
        else if (result == "Fail")
            Error($"  {label} FAILED {t.Attribute("name")?.Value}: {t.Element("failure")?.Element("message")?.Value}");
    }
    return counts;
}

Task("Clean").Does(() =>
{
    if (DirectoryExists(artifacts)) DeleteDirectory(artifacts, new DeleteDirectorySettings { Recursive = true, Force = true });
});

Task("Native").Does(() => Run("make", "-s -C native"));

Task("Build").IsDependentOn("Native").Does(() =>
{
    DotNetBuild(root.CombineWithFilePath("PrimeInterop.sln").FullPath, new DotNetBuildSettings { Configuration = configuration });
});

Task("HostTests").IsDependentOn("Build").Does(() =>
{
    var xml = artifacts.CombineWithFilePath("test-results/host.xml");
    EnsureDirectoryExists(xml.GetDirectory());
    // Without vgem here, the kernel tests belong to the rig; the host runs the rest (layout, pure logic).
    var filter = UseRig() ? "-trait- \"Category=Kernel\"" : "";
    var code = Run("dotnet", $"\"{testDll}\" -noColor -result-xml \"{xml}\" {filter}", throwOnError: false);
    if (!FileExists(xml)) throw new Exception($"host tests wrote no results (exit {code})");
    results.Add(("host", ReadResults(xml, "host")));
});

Task("RigTests").IsDependentOn("Build").Does(() =>
{
    if (!UseRig())
    {
        Information("vgem is loaded on this machine: kernel tests ran on the host, no VM needed (--rig=always to force)");
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs");
    foreach (var kernel in kernels) Run("bash", $"\"{rigScript}\" kernel {kernel}", throwOnError: true); // build/fetch once, before the parallel boots

    // The kernels boot side by side: each guest runs the tests on about one core. Consoles are not streamed then
    // (they would interleave); each is in artifacts/rig/<kernel>/serial.log and its tail is printed on failure.
    bool parallel = kernels.Length > 1 && rigParallel;
    (string Kernel, DirectoryPath OutDir, int Code) RunKernel(string kernel)
    {
        var tests = $"dotnet \"{testDll}\" -noColor -trait \"Category=Kernel\" -result-xml /tmp/rig-out/results.xml";
        // Kernel A (vgem and vkms) runs the soak in the same guest right after the tests: no second boot.
        var command = kernel == "a" && soakSeconds > 0 ? $"sh \"{GuestScript(kernel, tests, SoakCommand(soakSeconds))}\"" : tests;
        var (outDir, code) = RunInRig(kernel, kernel, command, quiet: parallel);
        return (kernel, outDir, code);
    }
    var runs = parallel
        ? System.Threading.Tasks.Task.WhenAll(kernels.Select(k => System.Threading.Tasks.Task.Run(() => RunKernel(k)))).GetAwaiter().GetResult()
        : kernels.Select(RunKernel).ToArray();

    foreach (var (kernel, outDir, code) in runs)
    {
        var xml = outDir.CombineWithFilePath("results.xml");
        if (code == 3 || !FileExists(xml))
            throw new Exception($"the rig for kernel {kernel} did not boot or run the tests (exit {code}); see {outDir}/serial.log");
        var uname = System.IO.File.ReadAllText(outDir.CombineWithFilePath("uname").FullPath).Trim();
        results.Add(($"rig {uname}", ReadResults(xml, uname)));
        if (kernel == "a" && soakSeconds > 0) ReadSoak(outDir);
    }
});

// The soak's command line in a guest (or here): it writes its summary line and exit code to the results folder.
string SoakCommand(int seconds, string outDir = "/tmp/rig-out") =>
    $"dotnet \"{soakDll}\" --seconds {seconds} --summary {outDir}/soak.txt; echo $? > {outDir}/soak-exit";

// A guest that runs more than one command gets them as a script in artifacts/rig (the guest sees this tree read-only).
FilePath GuestScript(string name, params string[] commands)
{
    var script = artifacts.CombineWithFilePath($"rig/{name}-commands.sh");
    EnsureDirectoryExists(script.GetDirectory());
    // The first command's exit code is the guest's; the others report through their own files.
    System.IO.File.WriteAllText(script.FullPath, "#!/bin/sh\n" + commands[0] + "\nrc=$?\n" +
        string.Concat(commands.Skip(1).Select(c => c + "\n")) + "exit $rc\n");
    return script;
}

void ReadSoak(DirectoryPath outDir)
{
    var summary = outDir.CombineWithFilePath("soak.txt");
    var exit = outDir.CombineWithFilePath("soak-exit");
    string line = FileExists(summary) ? System.IO.File.ReadAllText(summary.FullPath).Trim() : $"soak: no summary (see {outDir}/serial.log)";
    string code = FileExists(exit) ? System.IO.File.ReadAllText(exit.FullPath).Trim() : "?";
    bool ok = code == "0" && line.EndsWith(" 0 invariant violations, 0 leaked fds, 0 leaked handles", StringComparison.Ordinal);
    if (!ok) Error($"  the soak failed (exit {code}); its stderr is in {outDir}/serial.log");
    soakLines.Add((line, ok));
}

Task("Rig").IsDependentOn("RigTests").Does(() => Summarize());
Task("Test").IsDependentOn("HostTests").IsDependentOn("RigTests").Does(() => Summarize());

void Summarize()
{
    var total = new TestCounts();
    foreach (var (line, ok) in soakLines)
    {
        Console.WriteLine(line);
        if (!ok) total.Failed++; // a failed soak fails the run, and shows in the total
    }

    foreach (var (label, c) in results)
    {
        // Plain lines (no log colouring): CI and scripts read them.
        Console.WriteLine($"{label}: {c}");
        total.Passed += c.Passed; total.Failed += c.Failed; total.Skipped += c.Skipped;
    }
    Console.WriteLine(total.ToString());
    System.IO.File.WriteAllText(artifacts.CombineWithFilePath("test-summary.txt").FullPath,
        string.Join("\n", soakLines.Select(s => s.Line).Concat(results.Select(r => $"{r.Label}: {r.Counts}")).Append(total.ToString())) + "\n");
    if (soakLines.Any(s => !s.Ok)) throw new Exception("the soak found invariant violations or leaks, or did not finish");
    if (total.Failed > 0) throw new Exception($"{total.Failed} test(s) failed");
    if (total.Passed == 0) throw new Exception("no test passed");
}

Task("Demo").IsDependentOn("Build").Does(() =>
{
    if (!FileExists(primectlDll))
        throw new Exception("the sample CLI (samples/primectl) is not built yet");
    if (!UseRig())
    {
        Run("dotnet", $"\"{primectlDll}\" demo --output \"{artifacts.Combine("demo")}\"");
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs");
    var (outDir, code) = RunInRig("a", "demo", $"dotnet \"{primectlDll}\" demo --output /tmp/rig-out");
    if (code != 0) throw new Exception($"the demo failed in the rig (exit {code}); see {outDir}/serial.log");
    Information($"demo output (PNG of the received pixels) is in {outDir}");
});

Task("Bench").IsDependentOn("Build").Does(() =>
{
    var bench = artifacts.CombineWithFilePath($"bin/PrimeInterop.Bench/{config}/PrimeInterop.Bench.dll");
    var iterations = Argument("iterations", "20000");
    var args = $"\"{bench}\" {iterations} {Argument("rounds", "5")}";
    if (!UseRig())
    {
        Run("dotnet", args);
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs");
    foreach (var kernel in kernels)
    {
        var (outDir, code) = RunInRig(kernel, $"bench-{kernel}", $"dotnet {args}");
        if (code != 0) throw new Exception($"the benchmark failed in the rig on kernel {kernel} (exit {code}); see {outDir}/serial.log");
    }
});

Task("Soak").IsDependentOn("Build").Does(() =>
{
    var seconds = Argument("seconds", 60);
    bool hostHasVkms = System.IO.Directory.Exists("/sys/class/drm") &&
        System.IO.Directory.EnumerateDirectories("/sys/class/drm").Any(d => System.IO.Path.GetFileName(d).StartsWith("card") &&
            new System.IO.DirectoryInfo(System.IO.Path.Combine(d, "device")) is { Exists: true } link && link.ResolveLinkTarget(true)?.Name == "vkms");
    if (!UseRig() && hostHasVkms)
    {
        var outDir = artifacts.Combine("soak");
        EnsureDirectoryExists(outDir);
        int code = Run("dotnet", $"\"{soakDll}\" --seconds {seconds} --summary \"{outDir}/soak.txt\"", throwOnError: false);
        System.IO.File.WriteAllText(outDir.CombineWithFilePath("soak-exit").FullPath, $"{code}\n");
        ReadSoak(outDir);
    }
    else
    {
        Run("bash", $"\"{rigScript}\" prereqs");
        var (outDir, code) = RunInRig("a", "soak", $"sh \"{GuestScript("soak", SoakCommand(seconds))}\"");
        if (code == 3) throw new Exception($"the rig did not boot or run the soak (exit {code}); see {outDir}/serial.log");
        ReadSoak(outDir);
    }

    var (line, ok) = soakLines.Single();
    Console.WriteLine(line);
    if (!ok) throw new Exception("the soak found invariant violations or leaks, or did not finish");
});

Task("Pack").IsDependentOn("Build").Does(() =>
{
    DotNetPack(root.CombineWithFilePath("src/PrimeInterop/PrimeInterop.csproj").FullPath,
        new DotNetPackSettings { Configuration = configuration, NoBuild = true, OutputDirectory = artifacts.Combine("package") });
});

Task("Default").IsDependentOn("Test");

RunTarget(target);

class TestCounts
{
    public int Passed, Failed, Skipped;
    public override string ToString() => $"{Passed} passed, {Failed} failed, {Skipped} skipped";
}
