// PrimeInterop build. Run with: dotnet tool restore && dotnet cake --target=<Target>
//   Clean  Build  Test (host tests, then the rig; the README's test command)  Rig (rig only)
//   Demo (the sample CLI's demo: directly where vgem is loaded, else in the rig; --aot=true: the NativeAOT binary;
//   --compositor=weston: the Wayland sample samples/wlshow against weston)
//   Bench  Pack (both .nupkg + .snupkg into artifacts/package)  Consumer (README snippets built against the packages, run)
//   Soak (tests/PrimeInterop.Soak for --seconds=N, default 60, on kernel A or directly where vgem and vkms are)
// Arguments: --source=dumb|udmabuf|heap (Demo)  --configuration=Release  --kernels=a,b  --rig=auto|always|never  --rig-parallel=true|false  --aot=true  --compositor=weston
//   --soak-seconds=10 (Test/Rig: the soak after the tests in kernel A's guest; 0 leaves it out)
// No #addin or #tool: everything here is Cake's own or the .NET runtime's.
using System.Xml.Linq;

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var kernels = Argument("kernels", "a,b").Split(',', StringSplitOptions.RemoveEmptyEntries);
var rigMode = Argument("rig", EnvironmentVariable("PRIMEINTEROP_RIG_MODE") ?? "auto");
var demoSource = Argument("source", "dumb"); // Demo: where the exported buffer comes from (dumb, udmabuf, heap)
var compositor = Argument("compositor", ""); // Demo: --compositor=weston runs the Wayland sample (samples/wlshow) against weston
// Both kernels' guests at once, one vCPU each (RigTests): measured on this 2-core host, the rig's tests took 153 s that
// way, 194 s one guest after the other with two vCPUs each and 177 s side by side with two each (two vCPUs cost
// MTTCG about 60 % more QEMU CPU for the same tests). --rig-parallel=false streams each guest's console instead.
var rigParallel = Argument("rig-parallel", true);
var aot = Argument("aot", false);

var root = MakeAbsolute(Directory("."));
var artifacts = root.Combine("artifacts");
var config = configuration.ToLowerInvariant();
var testDll = artifacts.CombineWithFilePath($"bin/PrimeInterop.Tests/{config}/PrimeInterop.Tests.dll");
// The same tests published ReadyToRun (precompiled: the project sets PublishReadyToRun) for the rig, where every
// method the JIT compiles costs 10-20x more under QEMU's emulation; the child processes the tests start run from here too.
var rigTestDll = artifacts.CombineWithFilePath($"publish/PrimeInterop.Tests/{config}/PrimeInterop.Tests.dll");
var primectlDll = artifacts.CombineWithFilePath($"bin/primectl/{config}/primectl.dll");
var soakDll = artifacts.CombineWithFilePath($"bin/PrimeInterop.Soak/{config}/PrimeInterop.Soak.dll");
// The soak's copy in the rig's ReadyToRun publish (the test project references it for that): RigTests runs this one.
var rigSoakDll = artifacts.CombineWithFilePath($"publish/PrimeInterop.Tests/{config}/PrimeInterop.Soak.dll");
var soakSeconds = Argument("soak-seconds", 10);
var rigScript = root.CombineWithFilePath("tests/rig/rig.sh");
const int RigNoResult = 3; // rig.sh's RIG_NO_RESULT: the guest gave no result (no boot, a crash, the timeout)
var results = new List<(string Label, TestCounts Counts)>();
var failures = new List<string>(); // "label: test name: first line of the message", repeated just above the totals
var soakLines = new List<(string Line, bool Ok)>();

// A DRM device of this driver on this machine (vgem: tests and the demo run here directly, no VM).
bool HostHasDriver(string driver) =>
    System.IO.Directory.Exists("/sys/class/drm") &&
    System.IO.Directory.EnumerateDirectories("/sys/class/drm").Any(d =>
    {
        var link = new System.IO.DirectoryInfo(System.IO.Path.Combine(d, "device"));
        try { return link.Exists && link.ResolveLinkTarget(true)?.Name == driver; } catch { return false; }
    });

bool HostHasVgem() => HostHasDriver("vgem");

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
(DirectoryPath OutDir, int Code) RunInRig(string kernel, string name, string command, bool quiet = false, Dictionary<string, string> environment = null)
{
    var outDir = artifacts.Combine($"rig/{name}");
    EnsureDirectoryExists(outDir);
    CleanDirectory(outDir);
    var code = StartProcess("bash", new ProcessSettings
    {
        Arguments = $"\"{rigScript}\" run {kernel} \"{outDir}\" -- {command}",
        WorkingDirectory = root,
        EnvironmentVariables = quiet ? new Dictionary<string, string>(environment ?? new()) { ["RIG_QUIET"] = "1" } : environment,
    });
    return (outDir, code);
}

string FirstLine(string message) =>
    (message ?? "").Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) is { } line
        ? (line.Length > 300 ? line[..300] + " …" : line)
        : "(no message)";

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
        {
            var message = t.Element("failure")?.Element("message")?.Value ?? "";
            Error($"  {label} FAILED {t.Attribute("name")?.Value}: {message}");
            failures.Add($"{label}: {t.Attribute("name")?.Value}: {FirstLine(message)}");
        }
    }
    // Failures outside any test (a fixture's cleanup, the assembly's): counted as failed above, named here.
    foreach (var e in doc.Descendants("error"))
        failures.Add($"{label}: {e.Attribute("type")?.Value} error {e.Attribute("name")?.Value}: {FirstLine(e.Element("failure")?.Element("message")?.Value)}");
    return counts;
}

Task("Clean").Does(() =>
{
    if (DirectoryExists(artifacts)) DeleteDirectory(artifacts, new DeleteDirectorySettings { Recursive = true, Force = true });
});

// A missing toolchain or header names its package and the prerequisites command, never a compiler error.
Task("Native").Does(() =>
{
    bool Has(string command, string args = "--version") =>
        StartProcess("sh", new ProcessSettings { Arguments = $"-c \"{command} {args} >/dev/null 2>&1\"", Silent = true }) == 0;
    var missing = new List<string>();
    if (!Has("cc")) missing.Add("a C compiler (package gcc)");
    if (!Has("make")) missing.Add("make (package make)");
    if (!Has("pkg-config")) missing.Add("pkg-config (package pkg-config)");
    else if (!Has("pkg-config", "--exists libdrm")) missing.Add("libdrm's headers (package libdrm-dev)");
    if (missing.Count > 0)
        throw new Exception($"missing native prerequisites: {string.Join(", ", missing)}; install them with: sudo bash tests/rig/rig.sh prereqs");
    Run("make", "-s -C native");
});

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
    // ReadyToRun images of the test assembly and everything it runs (xunit, primectl, wlshow, the library): crossgen
    // here takes seconds, JIT in the guest took minutes. Incremental: unchanged assemblies are not compiled again.
    DotNetPublish(root.CombineWithFilePath("tests/PrimeInterop.Tests/PrimeInterop.Tests.csproj").FullPath,
        new DotNetPublishSettings { Configuration = configuration, NoBuild = true });

    // The kernels boot side by side, one vCPU each (see rigParallel). Consoles are not streamed then (they would
    // interleave); each is in artifacts/rig/<kernel>/serial.log and its tail is printed when a guest fails. With
    // RIG_LOCK set, this run holds the lock for both guests, which then take none of their own.
    bool parallel = kernels.Length > 1 && rigParallel;
    var guestEnvironment = parallel ? new Dictionary<string, string> { ["RIG_SMP"] = "1", ["RIG_LOCK"] = "" } : null;
    (string Kernel, DirectoryPath OutDir, int Code) RunKernel(string kernel)
    {
        var tests = $"dotnet \"{rigTestDll}\" -noColor -trait \"Category=Kernel\" -result-xml /tmp/rig-out/results.xml";
        // Kernel A (vgem and vkms) runs the soak in the same guest right after the tests: no second boot.
        var command = kernel == "a" && soakSeconds > 0 ? $"sh \"{GuestScript(kernel, tests, SoakCommand(soakSeconds, dll: rigSoakDll))}\"" : tests;
        var (outDir, code) = RunInRig(kernel, kernel, command, quiet: parallel, environment: guestEnvironment);
        if (parallel && code != 0)
        {
            var log = outDir.CombineWithFilePath("serial.log").FullPath;
            var tail = System.IO.File.Exists(log) ? System.IO.File.ReadLines(log).TakeLast(40) : Enumerable.Empty<string>();
            Information($"rig {kernel} exited with {code}; the end of its console ({log}):\n" + string.Join("\n", tail));
        }

        return (kernel, outDir, code);
    }
    (string Kernel, DirectoryPath OutDir, int Code)[] runs;
    if (parallel)
    {
        using var held = HoldRigLock();
        runs = System.Threading.Tasks.Task.WhenAll(kernels.Select(k => System.Threading.Tasks.Task.Run(() => RunKernel(k)))).GetAwaiter().GetResult();
    }
    else
    {
        runs = kernels.Select(RunKernel).ToArray();
    }

    foreach (var (kernel, outDir, code) in runs)
    {
        var xml = outDir.CombineWithFilePath("results.xml");
        if (code == RigNoResult || !FileExists(xml))
            throw new Exception($"the rig for kernel {kernel} did not boot or run the tests (exit {code}); see {outDir}/serial.log");
        var uname = System.IO.File.ReadAllText(outDir.CombineWithFilePath("uname").FullPath).Trim();
        results.Add(($"rig {uname}", ReadResults(xml, uname)));
        if (kernel == "a" && soakSeconds > 0) ReadSoak(outDir);
    }
});

// RIG_LOCK (see rig.sh), held by this process: .NET takes flock(LOCK_EX) on a file opened with FileShare.None, the
// same lock rig.sh's flock takes, so other checkouts' guests wait for this run's. Null when RIG_LOCK is not set.
IDisposable HoldRigLock()
{
    var path = EnvironmentVariable("RIG_LOCK");
    if (string.IsNullOrEmpty(path)) return null;
    for (bool told = false; ; told = true)
    {
        try
        {
            return new System.IO.FileStream(path, System.IO.FileMode.OpenOrCreate, System.IO.FileAccess.Read, System.IO.FileShare.None);
        }
        catch (System.IO.IOException e) when (e.GetType() == typeof(System.IO.IOException)) // the lock is held; a missing directory is not waited for
        {
            if (!told) Information($"rig: waiting for {path} (another guest is running)");
            System.Threading.Thread.Sleep(1000);
        }
    }
}

// The soak's command line in a guest (or here): it writes its summary line and exit code to the results folder.
string SoakCommand(int seconds, string outDir = "/tmp/rig-out", FilePath dll = null) =>
    $"dotnet \"{dll ?? soakDll}\" --seconds {seconds} --summary {outDir}/soak.txt; echo $? > {outDir}/soak-exit";

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

    // Each failed test by name with the first line of its message, next to the totals: the tail of a CI log shows it.
    var failedLines = failures.Select(f => $"FAILED {f}").ToList();
    foreach (var line in failedLines)
        Console.WriteLine(line);

    foreach (var (label, c) in results)
    {
        // Plain lines (no log colouring): CI and scripts read them.
        Console.WriteLine($"{label}: {c}");
        total.Passed += c.Passed; total.Failed += c.Failed; total.Skipped += c.Skipped;
    }
    Console.WriteLine(total.ToString());
    System.IO.File.WriteAllText(artifacts.CombineWithFilePath("test-summary.txt").FullPath,
        string.Join("\n", soakLines.Select(s => s.Line).Concat(failedLines).Concat(results.Select(r => $"{r.Label}: {r.Counts}")).Append(total.ToString())) + "\n");
    if (soakLines.Any(s => !s.Ok)) throw new Exception("the soak found invariant violations or leaks, or did not finish");
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
    // The program to run: `dotnet primectl.dll`, or with --aot=true the NativeAOT binary, published first.
    string file = "dotnet", prefix = $"\"{primectlDll}\" ";
    if (aot)
    {
        // Both processes of the demo are the native binary: the importer starts the exporter as itself.
        var native = artifacts.Combine("primectl-aot");
        DotNetPublish(root.CombineWithFilePath("samples/primectl/primectl.csproj").FullPath, new DotNetPublishSettings
        {
            Configuration = configuration, Runtime = "linux-x64", OutputDirectory = native,
            MSBuildSettings = new DotNetMSBuildSettings().WithProperty("PublishAot", "true"),
        });
        (file, prefix) = (native.CombineWithFilePath("primectl").FullPath, "");
    }
    if (!UseRig())
    {
        Run(file, $"{prefix}demo --source {demoSource} --output \"{artifacts.Combine("demo")}\"");
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs");
    var (outDir, code) = RunInRig("a", "demo", $"\"{file}\" {prefix}demo --source {demoSource} --output /tmp/rig-out");
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
    // Every path of the library against native/prime-bench's loops (libdrm, in-process, timed just before and after
    // the C# loops of each path); each kernel's run ends with a "bench <uname -r>: ..." line, repeated here at the
    // end, one per kernel.
    var bench = artifacts.CombineWithFilePath($"bin/PrimeInterop.Bench/{config}/PrimeInterop.Bench.dll");
    var args = $"\"{bench}\" {Argument("iterations", "5000")} {Argument("rounds", "15")}";
    // --clock=icount (the default in the rig): the guest's clock counts instructions (rig.sh RIG_ICOUNT), so a run
    // measures work done and gives the same ratios however loaded this machine is; --clock=host: QEMU's usual clock,
    // wall time, which moves with the host's load.
    var clock = Argument("clock", "icount");
    if (clock != "icount" && clock != "host") throw new Exception($"--clock must be icount or host, not {clock}");
    if (UseRig()) Information($"bench: guest clock {(clock == "icount" ? "icount (instructions, deterministic)" : "host (wall time)")}");
    var lines = new List<string>();
    if (!UseRig())
    {
        var outDir = artifacts.Combine("bench");
        EnsureDirectoryExists(outDir);
        var code = StartProcess("dotnet", new ProcessSettings
        {
            Arguments = args,
            WorkingDirectory = root,
            EnvironmentVariables = new Dictionary<string, string> { ["RIG_OUT"] = outDir.FullPath },
        });
        if (code != 0) throw new Exception($"the benchmark failed (exit {code})");
        lines.Add(System.IO.File.ReadAllText(outDir.CombineWithFilePath("bench-line").FullPath).Trim());
    }
    else
    {
        Run("bash", $"\"{rigScript}\" prereqs");
        foreach (var kernel in kernels)
        {
            var (outDir, code) = RunInRig(kernel, $"bench-{kernel}", $"dotnet {args}",
                environment: clock == "icount" ? new Dictionary<string, string> { ["RIG_ICOUNT"] = "0" } : null);
            var line = outDir.CombineWithFilePath("bench-line");
            if (code != 0 || !FileExists(line)) throw new Exception($"the benchmark failed in the rig on kernel {kernel} (exit {code}); see {outDir}/serial.log");
            lines.Add(System.IO.File.ReadAllText(line.FullPath).Trim());
        }
    }

    System.IO.File.WriteAllText(artifacts.CombineWithFilePath("bench-summary.txt").FullPath, string.Join("\n", lines) + "\n");
    foreach (var line in lines) Console.WriteLine(line); // plain lines, last in the output: scripts read them
});

Task("Soak").IsDependentOn("Build").Does(() =>
{
    var seconds = Argument("seconds", 60);
    if (!UseRig() && HostHasDriver("vkms"))
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
        if (code == RigNoResult) throw new Exception($"the rig did not boot or run the soak (exit {code}); see {outDir}/serial.log");
        ReadSoak(outDir);
    }

    var (line, ok) = soakLines.Single();
    Console.WriteLine(line);
    if (!ok) throw new Exception("the soak found invariant violations or leaks, or did not finish");
});

var packages = artifacts.Combine("package");

Task("Pack").IsDependentOn("Build").Does(() =>
{
    if (DirectoryExists(packages)) CleanDirectory(packages);
    foreach (var project in new[] { "src/PrimeInterop/PrimeInterop.csproj", "src/PrimeInterop.Hosting/PrimeInterop.Hosting.csproj" })
        DotNetPack(root.CombineWithFilePath(project).FullPath,
            new DotNetPackSettings { Configuration = configuration, NoBuild = true, OutputDirectory = packages });
    foreach (var id in new[] { "PrimeInterop", "PrimeInterop.Hosting" })
        if (GetFiles($"{packages}/{id}.[0-9]*.nupkg").Count != 1 || GetFiles($"{packages}/{id}.[0-9]*.snupkg").Count != 1)
            throw new Exception($"Pack did not produce {id}'s .nupkg and .snupkg in {packages}");
    Information($"packages: {string.Join(", ", GetFiles($"{packages}/*").Select(f => f.GetFilename().FullPath))}");
});

// The consumer test: every ```csharp block of README.md becomes a method of a separate project that references the
// packages just packed (never the projects); it must compile warning-free, and the runnable ones run (in the rig
// where there is no vgem). A block after the line <!-- snippet: compile-only --> is compiled, not run.
Task("Consumer").IsDependentOn("Pack").Does(() =>
{
    var nupkg = GetFiles($"{packages}/PrimeInterop.[0-9]*.nupkg").Single();
    var version = nupkg.GetFilenameWithoutExtension().FullPath.Substring("PrimeInterop.".Length);
    var consumer = artifacts.Combine("consumer");
    var snippetsDir = consumer.Combine("snippets");
    // A fresh packages folder: the version just packed, never one cached from an earlier pack of the same version.
    if (DirectoryExists(consumer)) DeleteDirectory(consumer, new DeleteDirectorySettings { Recursive = true, Force = true });
    EnsureDirectoryExists(snippetsDir);

    var readme = System.IO.File.ReadAllLines(root.CombineWithFilePath("README.md").FullPath);
    var names = new List<(string Name, bool Runnable)>();
    var importLine = new System.Text.RegularExpressions.Regex(@"^using\s+(static\s+)?[\w.]+\s*;\s*$");
    for (int i = 0; i < readme.Length; i++)
    {
        if (readme[i].Trim() != "```csharp") continue;
        bool runnable = !(i > 0 && readme[i - 1].Contains("snippet: compile-only"));
        int first = i + 2; // 1-based line number of the block's first line
        var imports = new List<string>();
        var body = new List<string>();
        for (i++; i < readme.Length && readme[i].Trim() != "```"; i++)
        {
            if (importLine.IsMatch(readme[i])) { imports.Add(readme[i]); body.Add(""); }
            else body.Add(readme[i]);
        }
        string name = $"Readme{first}";
        names.Add(($"README.md line {first}", runnable));
        System.IO.File.WriteAllText(snippetsDir.CombineWithFilePath($"{name}.g.cs").FullPath,
            string.Join("\n", imports) + "\n#pragma warning disable CS1998, CA1849, CA2007, IDE0005\nnamespace Consumer;\ninternal static partial class Snippets\n{\n" +
            $"    public static async Task {name}()\n    {{\n#line {first} \"{root.CombineWithFilePath("README.md")}\"\n" +
            string.Join("\n", body) + "\n#line default\n    }\n}\n");
    }
    if (names.Count == 0) throw new Exception("README.md has no ```csharp block");
    System.IO.File.WriteAllText(snippetsDir.CombineWithFilePath("Snippets.g.cs").FullPath,
        "namespace Consumer;\ninternal static partial class Snippets\n{\n    public static readonly (string Name, Func<Task> Run, bool Runnable)[] All =\n    [\n" +
        string.Join("", names.Select(n => $"        (\"{n.Name}\", Readme{n.Name.Split(' ').Last()}, {(n.Runnable ? "true" : "false")}),\n")) +
        "    ];\n}\n");

    var project = root.CombineWithFilePath("tests/PrimeInterop.Consumer/PrimeInterop.Consumer.csproj").FullPath;
    DotNetBuild(project, new DotNetBuildSettings
    {
        Configuration = configuration,
        MSBuildSettings = new DotNetMSBuildSettings().WithProperty("PrimeInteropVersion", version),
    });
    // Proof that the packages came from artifacts/package: NuGet records each package's source.
    foreach (var id in new[] { "primeinterop", "primeinterop.hosting" })
    {
        var metadata = consumer.CombineWithFilePath($"packages/{id}/{version.ToLowerInvariant()}/.nupkg.metadata");
        if (!FileExists(metadata) || !System.IO.File.ReadAllText(metadata.FullPath).Contains(packages.FullPath))
            throw new Exception($"{id} {version} was not restored from {packages} ({metadata})");
    }

    var dll = consumer.CombineWithFilePath($"bin/PrimeInterop.Consumer/{config}/PrimeInterop.Consumer.dll");
    Information($"consumer: {names.Count} README snippets compiled against PrimeInterop {version} from {packages}");
    if (!UseRig())
    {
        Run("dotnet", $"\"{dll}\"");
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs");
    var (outDir, code) = RunInRig("a", "consumer", $"dotnet \"{dll}\"", quiet: true);
    var log = outDir.CombineWithFilePath("serial.log").FullPath;
    foreach (var line in System.IO.File.ReadAllLines(log).Where(l => l.StartsWith("consumer:")))
        Console.WriteLine(line);
    if (code != 0) throw new Exception($"the README snippets failed in the rig (exit {code}); see {log}");
});

// Rewrites src/*/PublicAPI.Unshipped.txt from the code as it is (everything public that PublicAPI.Shipped.txt does
// not list), with the analyzers' own code fix. Run it after an intended public API change and review the diff.
Task("PublicApi").Does(() =>
{
    foreach (var project in new[] { "src/PrimeInterop/PrimeInterop.csproj", "src/PrimeInterop.Hosting/PrimeInterop.Hosting.csproj" })
    {
        var unshipped = root.CombineWithFilePath(project).GetDirectory().CombineWithFilePath("PublicAPI.Unshipped.txt");
        System.IO.File.WriteAllText(unshipped.FullPath, "#nullable enable\n");
        Run("dotnet", $"format analyzers \"{root.CombineWithFilePath(project)}\" --diagnostics RS0016 --severity warn");
        var lines = System.IO.File.ReadAllLines(unshipped.FullPath).Skip(1).Where(l => l.Length > 0).OrderBy(l => l, StringComparer.Ordinal);
        System.IO.File.WriteAllText(unshipped.FullPath, "#nullable enable\n" + string.Join("\n", lines) + "\n");
        Information($"{unshipped}: {lines.Count()} public symbols not yet shipped");
    }
});

Task("Default").IsDependentOn("Test");

RunTarget(target);

class TestCounts
{
    public int Passed, Failed, Skipped;
    public override string ToString() => $"{Passed} passed, {Failed} failed, {Skipped} skipped";
}
