// PrimeInterop build. Run with: dotnet tool restore && dotnet cake --target=<Target>
//   Clean  Build  Test (host tests, then the rig; the README's test command)  Rig (rig only)
//   Demo (the sample CLI's demo: directly where vgem is loaded, else in the rig; --compositor=weston: the Wayland
//   sample against weston)  Bench  Pack
// Arguments: --configuration=Release  --kernels=a,b  --rig=auto|always|never  --rig-parallel=true|false
// No #addin or #tool: everything here is Cake's own or the .NET runtime's.
using System.Xml.Linq;

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var kernels = Argument("kernels", "a,b").Split(',', StringSplitOptions.RemoveEmptyEntries);
var rigMode = Argument("rig", EnvironmentVariable("PRIMEINTEROP_RIG_MODE") ?? "auto");
var compositor = Argument("compositor", ""); // Demo: --compositor=weston runs the Wayland sample (samples/wlshow) against weston
var rigParallel = Argument("rig-parallel", false); // sequential streams each guest console; parallel measured no faster on 2 cores

var root = MakeAbsolute(Directory("."));
var artifacts = root.Combine("artifacts");
var config = configuration.ToLowerInvariant();
var testDll = artifacts.CombineWithFilePath($"bin/PrimeInterop.Tests/{config}/PrimeInterop.Tests.dll");
var primectlDll = artifacts.CombineWithFilePath($"bin/primectl/{config}/primectl.dll");
var rigScript = root.CombineWithFilePath("tests/rig/rig.sh");
var results = new List<(string Label, TestCounts Counts)>();

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
        var (outDir, code) = RunInRig(kernel, kernel, $"dotnet \"{testDll}\" -noColor -trait \"Category=Kernel\" -result-xml /tmp/rig-out/results.xml", quiet: parallel);
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
    }
});

Task("Rig").IsDependentOn("RigTests").Does(() => Summarize());
Task("Test").IsDependentOn("HostTests").IsDependentOn("RigTests").Does(() => Summarize());

void Summarize()
{
    var total = new TestCounts();
    foreach (var (label, c) in results)
    {
        // Plain lines (no log colouring): CI and scripts read them.
        Console.WriteLine($"{label}: {c}");
        total.Passed += c.Passed; total.Failed += c.Failed; total.Skipped += c.Skipped;
    }
    Console.WriteLine(total.ToString());
    System.IO.File.WriteAllText(artifacts.CombineWithFilePath("test-summary.txt").FullPath,
        string.Join("\n", results.Select(r => $"{r.Label}: {r.Counts}").Append(total.ToString())) + "\n");
    if (total.Failed > 0) throw new Exception($"{total.Failed} test(s) failed");
    if (total.Passed == 0) throw new Exception("no test passed");
}

Task("Demo").IsDependentOn("Build").Does(() =>
{
    if (compositor == "weston")
    {
        WestonDemo();
        return;
    }
    if (compositor != "")
        throw new Exception($"--compositor={compositor}: only weston is supported");
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

// The Wayland sample against a real weston 10: the DRM backend scanning out on vkms in the rig (kernel A), where the
// sample's dma-buf is presented full screen and read back through weston_screenshooter.
void WestonDemo()
{
    var wlshowDll = artifacts.CombineWithFilePath($"bin/wlshow/{config}/wlshow.dll");
    if (!FileExists(wlshowDll))
        throw new Exception("the Wayland sample (samples/wlshow) is not built yet");
    if (!UseRig())
    {
        Run("dotnet", $"\"{wlshowDll}\" --weston headless");
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs");
    var (outDir, code) = RunInRig("a", "demo-weston", $"dotnet \"{wlshowDll}\" --weston drm");
    if (code != 0) throw new Exception($"the weston demo failed in the rig (exit {code}); see {outDir}/serial.log");
}

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
