// PrimeInterop build. Run with: dotnet tool restore && dotnet cake --target=<Target>
//   Clean  Build  Test (host tests, on x86-64 again as arm64 under qemu-aarch64, then the rig; the README's test command)
//   Rig (rig only)
//   Demo (the sample CLI's demo: directly where vgem is loaded, else in the rig; --aot=true: the NativeAOT binary;
//   --compositor=weston: the Wayland sample samples/wlshow against weston)
//   Bench  Pack (both .nupkg + .snupkg into artifacts/package)  Consumer (README snippets built against the packages, run)
//   Soak (tests/PrimeInterop.Soak for --seconds=N, default 60, on kernel A or directly where vgem and vkms are)
//   Compositor (samples/primecomp with two weston-simple-dmabuf-egl clients on vkms: kernel A's guest, or directly where
//   vkms is; --frames=N verified frames per client, default 60; ends with the run's one summary line)
// Arguments: --source=dumb|udmabuf|heap (Demo)  --configuration=Release  --kernels=a,b  --rig=auto|always|never  --rig-parallel=true|false  --aot=true  --compositor=weston  --shell=xdg|fullscreen
//   --soak-seconds=10 (Test/Rig: the soak after the tests in kernel A's guest; 0 leaves it out)
// No #addin or #tool: everything here is Cake's own or the .NET runtime's.
using System.Xml.Linq;

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var kernels = Argument("kernels", "a,b").Split(',', StringSplitOptions.RemoveEmptyEntries);
var rigMode = Argument("rig", EnvironmentVariable("PRIMEINTEROP_RIG_MODE") ?? "auto");
var demoSource = Argument("source", "dumb"); // Demo: where the exported buffer comes from (dumb, udmabuf, heap)
var compositor = Argument("compositor", ""); // Demo: --compositor=weston runs the Wayland sample (samples/wlshow) against weston
var shell = Argument("shell", "xdg"); // Demo --compositor=weston: xdg (weston's desktop shell) or fullscreen (its fullscreen shell)
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
// The same tests published self-contained for linux-arm64 (beside the others: the project adds the runtime to the folder's name).
var arm64TestHost = artifacts.CombineWithFilePath($"publish/PrimeInterop.Tests/{config}_linux-arm64/PrimeInterop.Tests");
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

// The host tests again on aarch64, under user-mode emulation: qemu-aarch64 runs the self-contained linux-arm64 publish
// with Debian's multiarch arm64 libraries, so that the layout test compares the aarch64 probe's answers with the layouts
// the arm64 runtime gives. On x86-64 machines; elsewhere the host tests ran natively on their own architecture.
// Before the rig (Test) the run goes on beside the consumer's build and the guests, and Test waits for it before the
// totals: it keeps one core busy, and the two guests leave one idle once the shorter run ends.
System.Diagnostics.Process arm64Run = null;
System.Threading.Tasks.Task<string> arm64Output = null;
var arm64Xml = artifacts.CombineWithFilePath("test-results/host-arm64.xml");

Task("HostArm64Tests").IsDependentOn("Build").Does(() =>
{
    if (System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
    {
        Information("host-arm64: only on x86-64 machines (the host tests above ran on this machine's own architecture)");
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs"); // qemu-user, the arm64 libraries and the cross compiler, named or installed
    Run("make", "-s -C native arm64");
    // ReadyToRun, like the rig's publish (every process start under emulation costs); incremental like any build.
    DotNetPublish(root.CombineWithFilePath("tests/PrimeInterop.Tests/PrimeInterop.Tests.csproj").FullPath,
        new DotNetPublishSettings { Configuration = configuration, Runtime = "linux-arm64", SelfContained = true });
    EnsureDirectoryExists(arm64Xml.GetDirectory());
    if (FileExists(arm64Xml)) DeleteFile(arm64Xml);
    var start = new System.Diagnostics.ProcessStartInfo("qemu-aarch64-static")
    {
        WorkingDirectory = root.FullPath, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
    };
    foreach (var arg in new[] { arm64TestHost.FullPath, "-noColor", "-trait-", "Category=Kernel", "-result-xml", arm64Xml.FullPath })
        start.ArgumentList.Add(arg);
    // The tests start the arm64 programs they run (primectl, the layout probe, themselves) through it: this machine's
    // kernel cannot (no binfmt_misc registration is assumed).
    start.Environment["PRIMEINTEROP_TEST_EMULATOR"] = "qemu-aarch64-static";
    // qemu-user does not see code the runtime writes through W^X's second, writable mapping, and runs stale translations
    // of it: NullReferenceExceptions in reflection stubs (OptionsFactory, attribute setters), as in dotnet/runtime#94909
    // and dotnet/sdk#27190. With W^X off it sees every write.
    start.Environment["DOTNET_EnableWriteXorExecute"] = "0";
    // qemu-user keeps flags per page of the GC's default 256 GiB reservation; 4 GiB makes every process start under
    // emulation about 30 % cheaper.
    start.Environment["DOTNET_GCRegionRange"] = "0x100000000";
    arm64Run = System.Diagnostics.Process.Start(start);
    var stderr = arm64Run.StandardError.ReadToEndAsync();
    arm64Output = arm64Run.StandardOutput.ReadToEndAsync().ContinueWith(o => o.Result + stderr.Result);
    if (!(target == "Test" && UseRig())) FinishHostArm64Tests();
});

// Waits for the arm64 run and reads its results (its output: artifacts/test-results/host-arm64.log).
void FinishHostArm64Tests()
{
    if (arm64Run is null) return;
    arm64Run.WaitForExit();
    var log = artifacts.CombineWithFilePath("test-results/host-arm64.log");
    System.IO.File.WriteAllText(log.FullPath, arm64Output.GetAwaiter().GetResult());
    int code = arm64Run.ExitCode;
    arm64Run.Dispose();
    arm64Run = null;
    if (!FileExists(arm64Xml)) throw new Exception($"the arm64 host tests wrote no results (exit {code}); see {log}");
    results.Insert(results.FindIndex(r => r.Label == "host") + 1, ("host-arm64", ReadResults(arm64Xml, "host-arm64")));
}

// A run that fails before Test waits for the arm64 tests leaves nothing running behind it.
Teardown(context =>
{
    if (arm64Run is { HasExited: false }) arm64Run.Kill(entireProcessTree: true);
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
        // Kernel A (vgem and vkms) runs the soak, and the doc blocks when the consumer test was built (Test), in the
        // same guest right after the tests: no second boot.
        var after = new List<string>();
        if (kernel == "a" && soakSeconds > 0) after.Add(SoakCommand(soakSeconds, dll: rigSoakDll));
        if (kernel == "a" && consumerBlocks.Count > 0) after.Add($"sh \"{consumerRunScript}\"");
        var command = after.Count > 0 ? $"sh \"{GuestScript(kernel, [tests, .. after])}\"" : tests;
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
        if (kernel == "a" && consumerBlocks.Count > 0) ReadConsumer(outDir);
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
Task("Test").IsDependentOn("HostTests").IsDependentOn("HostArm64Tests").IsDependentOn("ConsumerBuild").IsDependentOn("RigTests").Does(() =>
{
    FinishHostArm64Tests();
    if (!UseRig() && consumerBlocks.Count > 0)
    {
        Run("sh", $"\"{consumerRunScript}\""); // the doc blocks, here where vgem is (in the rig they ran in kernel A's guest)
        ReadConsumer(consumer);
    }
    Summarize();
});

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
// sample's dma-buf is presented full screen (an xdg-shell toplevel on weston's desktop shell, or the fullscreen shell)
// and read back through weston_screenshooter.
void WestonDemo()
{
    var wlshowDll = artifacts.CombineWithFilePath($"bin/wlshow/{config}/wlshow.dll");
    if (!FileExists(wlshowDll))
        throw new Exception("the Wayland sample (samples/wlshow) is not built yet");
    if (shell != "xdg" && shell != "fullscreen")
        throw new Exception($"--shell={shell}: xdg or fullscreen");
    if (!UseRig())
    {
        Run("dotnet", $"\"{wlshowDll}\" --weston headless --shell {shell}");
        return;
    }
    Run("bash", $"\"{rigScript}\" prereqs");
    var (outDir, code) = RunInRig("a", $"demo-weston-{shell}", $"dotnet \"{wlshowDll}\" --weston drm --shell {shell}");
    if (code != 0) throw new Exception($"the weston demo failed in the rig (exit {code}); see {outDir}/serial.log");
}

// The compositor sample against two unmodified weston-simple-dmabuf-egl clients: every frame's picture and CRC checked,
// writeback of each client's buffer, leaks counted (samples/primecomp's `run`). Its summary line is printed after Cake's
// task report, so that the output ends with it.
string compositorLine = null;
Task("Compositor").IsDependentOn("Build").Does(() =>
{
    var dll = artifacts.CombineWithFilePath($"bin/primecomp/{config}/primecomp.dll");
    var shim = artifacts.CombineWithFilePath("native/libclock-freeze.so");
    var args = $"\"{dll}\" run --clock-shim \"{shim}\" --frames {Argument("frames", 60)}";
    DirectoryPath outDir;
    int code;
    if (!UseRig() && HostHasDriver("vkms"))
    {
        outDir = artifacts.Combine("compositor");
        EnsureDirectoryExists(outDir);
        CleanDirectory(outDir);
        code = Run("dotnet", $"{args} --output \"{outDir}\"", throwOnError: false);
    }
    else
    {
        Run("bash", $"\"{rigScript}\" prereqs");
        (outDir, code) = RunInRig("a", "compositor", $"dotnet {args}");
    }

    var summary = outDir.CombineWithFilePath("compositor.txt");
    compositorLine = FileExists(summary) ? System.IO.File.ReadAllText(summary.FullPath).Trim() : $"compositor: FAILED: no result (exit {code}); see {outDir}";
    if (code != 0 || !compositorLine.StartsWith("compositor: ") || compositorLine.StartsWith("compositor: FAILED"))
    {
        Error(compositorLine);
        throw new Exception($"the compositor run failed (exit {code}); see {outDir}");
    }
});

Task("Bench").IsDependentOn("Build").Does(() =>
{
    // Every path of the library against native/prime-bench's loops (libdrm, in-process, timed just before and after
    // the C# loops of each path). Each kernel's run begins with a "bench-env: ..." line and ends with a
    // "bench <uname -r>: ..." line, repeated here at the end; its figures go to artifacts/bench/<kernel>.json, and
    // docs/benchmarks.md is written from them (tests/PrimeInterop.Bench/benchmarks.template.md).
    var bench = artifacts.CombineWithFilePath($"bin/PrimeInterop.Bench/{config}/PrimeInterop.Bench.dll");
    // --clock=icount (the default in the rig): the guest's clock counts instructions (rig.sh RIG_ICOUNT), so a run
    // measures work done and gives the same ratios however loaded this machine is; --clock=host: QEMU's usual clock,
    // wall time, which moves with the host's load.
    var clock = Argument("clock", "icount");
    if (clock != "icount" && clock != "host") throw new Exception($"--clock must be icount or host, not {clock}");
    if (!UseRig()) clock = "host (no rig)";
    var args = $"\"{bench}\" {Argument("iterations", "5000")} {Argument("rounds", "15")} {BenchEnvironment(clock)}";
    if (UseRig()) Information($"bench: guest clock {(clock == "icount" ? "icount (instructions, deterministic)" : "host (wall time)")}");
    var results = artifacts.Combine("bench");
    EnsureDirectoryExists(results);
    var lines = new List<string>();
    if (!UseRig())
    {
        var outDir = artifacts.Combine("bench-host");
        EnsureDirectoryExists(outDir);
        var code = StartProcess("dotnet", new ProcessSettings
        {
            Arguments = $"{args} --label host",
            WorkingDirectory = root,
            EnvironmentVariables = new Dictionary<string, string> { ["RIG_OUT"] = outDir.FullPath },
        });
        if (code != 0) throw new Exception($"the benchmark failed (exit {code})");
        lines.AddRange(System.IO.File.ReadAllLines(outDir.CombineWithFilePath("bench-line").FullPath));
        CopyFile(outDir.CombineWithFilePath("bench.json"), results.CombineWithFilePath("host.json"));
    }
    else
    {
        Run("bash", $"\"{rigScript}\" prereqs");
        foreach (var kernel in kernels)
        {
            var (outDir, code) = RunInRig(kernel, $"bench-{kernel}", $"dotnet {args} --label {kernel}",
                environment: clock == "icount" ? new Dictionary<string, string> { ["RIG_ICOUNT"] = "0" } : null);
            var line = outDir.CombineWithFilePath("bench-line");
            if (code != 0 || !FileExists(line)) throw new Exception($"the benchmark failed in the rig on kernel {kernel} (exit {code}); see {outDir}/serial.log");
            lines.AddRange(System.IO.File.ReadAllLines(line.FullPath).Where(l => !lines.Contains(l))); // one bench-env line for the run
            CopyFile(outDir.CombineWithFilePath("bench.json"), results.CombineWithFilePath($"{kernel}.json"));
        }
    }

    // The page is made from every kernel's latest results, so a run of one kernel keeps the other's last figures.
    var json = System.IO.Directory.GetFiles(results.FullPath, "*.json").OrderBy(f => f).Select(f => $"\"{f}\"");
    Run("dotnet", $"\"{bench}\" docs tests/PrimeInterop.Bench/benchmarks.template.md docs/benchmarks.md {string.Join(" ", json)}");
    System.IO.File.WriteAllText(artifacts.CombineWithFilePath("bench-summary.txt").FullPath, string.Join("\n", lines) + "\n");
    foreach (var line in lines) Console.WriteLine(line); // plain lines, last in the output: scripts read them
});

// Where a benchmark ran, for its bench-env line: the commit (-dirty when tracked files differ from it), QEMU, gcc and
// libdrm on this machine; the bench adds .NET (the runtime it ran on), the clock and its iterations x rounds.
string BenchEnvironment(string clock)
{
    string Capture(string file, string arguments)
    {
        try
        {
            StartProcess(file, new ProcessSettings { Arguments = arguments, WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true }, out var output);
            return output.FirstOrDefault()?.Trim() ?? "unknown";
        }
        catch (Exception)
        {
            return "unknown";
        }
    }

    string commit = Capture("git", "rev-parse --short HEAD") + (Capture("git", "status --porcelain --untracked-files=no") is "unknown" or "" ? "" : "-dirty");
    string qemu = Capture("qemu-system-x86_64", "--version").Split(' ').SkipWhile(w => w != "version").Skip(1).FirstOrDefault() ?? "unknown";
    return $"--commit {commit} --qemu {qemu} --gcc {Capture("gcc", "-dumpfullversion")} --libdrm {Capture("pkg-config", "--modversion libdrm")} --clock \"{clock}\"";
}

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
var libraryIds = new[] { "PrimeInterop", "PrimeInterop.Hosting" };
const string ToolId = "PrimeInterop.PrimeCtl";

// The two libraries' .nupkg + .snupkg in artifacts/package (what the consumer test restores).
Task("PackLibraries").IsDependentOn("Build").Does(() =>
{
    EnsureDirectoryExists(packages);
    foreach (var id in libraryIds)
    {
        DeleteFiles($"{packages}/{id}.[0-9]*.*nupkg");
        DotNetPack(root.CombineWithFilePath($"src/{id}/{id}.csproj").FullPath,
            new DotNetPackSettings { Configuration = configuration, NoBuild = true, OutputDirectory = packages });
        if (GetFiles($"{packages}/{id}.[0-9]*.nupkg").Count != 1 || GetFiles($"{packages}/{id}.[0-9]*.snupkg").Count != 1)
            throw new Exception($"Pack did not produce {id}'s .nupkg and .snupkg in {packages}");
    }
});

// primectl as a .NET tool: the package users install (it names one package per runtime), the NativeAOT builds for
// linux-x64 and linux-arm64, and the framework-dependent build ("any") for the rest. Then the proof that it installs
// from artifacts/package and runs: `dotnet tool install` into a scratch tool path, `primectl --version`.
Task("PackTool").IsDependentOn("Build").Does(() =>
{
    EnsureDirectoryExists(packages);
    DeleteFiles($"{packages}/{ToolId}.*nupkg");
    var project = root.CombineWithFilePath("samples/primectl/primectl.csproj").FullPath;
    foreach (var rid in new string[] { null, "any", "linux-x64", "linux-arm64" })
        DotNetPack(project, new DotNetPackSettings
        {
            Configuration = configuration, OutputDirectory = packages, Runtime = rid,
            // With PublishAot the RID-less pack makes only the package that names the others, each made by its own
            // pack; "any" is the framework-dependent build, which NativeAOT has nothing to do with.
            MSBuildSettings = rid == "any" ? null : new DotNetMSBuildSettings().WithProperty("PublishAot", "true"),
        });
    var toolPath = artifacts.Combine("tool-check");
    if (DirectoryExists(toolPath)) DeleteDirectory(toolPath, new DeleteDirectorySettings { Recursive = true, Force = true });
    Run("dotnet", $"tool install {ToolId} --prerelease --tool-path \"{toolPath}\" --add-source \"{packages}\"");
    Run(toolPath.CombineWithFilePath("primectl").FullPath, "--version");
});

Task("Pack").IsDependentOn("PackLibraries").IsDependentOn("PackTool").Does(() =>
    Information($"packages: {string.Join(", ", GetFiles($"{packages}/*").Select(f => f.GetFilename().FullPath))}"));

// The consumer test: every ```csharp block of the user-facing docs (README.md, docs/*.md, the packages' readmes)
// is pasted into a fresh `dotnet new console` project that gets exactly the `dotnet add package` lines the docs show
// (the document's own, else the README's), restored from artifacts/package and the registry (never a project
// reference), and built with warnings as errors. The blocks not marked <!-- snippet: compile-only --> then run (in
// kernel A's test guest where there is no vgem). Each block counts as one test: passed when it compiled (and ran).
var consumer = artifacts.Combine("consumer");
var consumerRunScript = consumer.CombineWithFilePath("run.sh");
var consumerBlocks = new List<(string Name, string Where, bool Runnable)>();
var consumerFailures = new List<string>();

Task("ConsumerBuild").IsDependentOn("PackLibraries").Does(() =>
{
    var nupkg = GetFiles($"{packages}/PrimeInterop.[0-9]*.nupkg").Single();
    var version = nupkg.GetFilenameWithoutExtension().FullPath.Substring("PrimeInterop.".Length);
    // A fresh packages folder: the version just packed, never one cached from an earlier pack of the same version.
    if (DirectoryExists(consumer)) DeleteDirectory(consumer, new DeleteDirectorySettings { Recursive = true, Force = true });
    EnsureDirectoryExists(consumer);
    // The libraries come from artifacts/package only (a package of that name elsewhere is never taken); the rest from
    // the registry, reusing what this user's NuGet cache already holds.
    System.IO.File.WriteAllText(consumer.CombineWithFilePath("nuget.config").FullPath, $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <config><add key="globalPackagesFolder" value="{consumer}/packages" /></config>
          <fallbackPackageFolders><add key="user" value="{System.IO.Path.Combine(EnvironmentVariable("HOME") ?? "/root", ".nuget/packages")}" /></fallbackPackageFolders>
          <packageSources><clear /><add key="artifacts" value="{packages}" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources>
          <packageSourceMapping>
            <packageSource key="artifacts"><package pattern="PrimeInterop" /><package pattern="PrimeInterop.*" /></packageSource>
            <packageSource key="nuget.org"><package pattern="*" /></packageSource>
          </packageSourceMapping>
        </configuration>
        """);
    // The Directory.Build.* of this repository must not reach the consumer projects: empty ones stop the search.
    System.IO.File.WriteAllText(consumer.CombineWithFilePath("Directory.Build.props").FullPath, "<Project />\n");
    System.IO.File.WriteAllText(consumer.CombineWithFilePath("Directory.Build.targets").FullPath, "<Project />\n");
    System.IO.File.WriteAllText(consumer.CombineWithFilePath("Directory.Packages.props").FullPath, "<Project />\n");
    var template = consumer.Combine("template");
    Run("dotnet", $"new console --output \"{template}\" --name Snippet");

    var docs = new List<FilePath> { root.CombineWithFilePath("README.md") };
    docs.AddRange(GetFiles($"{root}/docs/*.md").OrderBy(f => f.FullPath));
    docs.AddRange(GetFiles($"{root}/src/*/PACKAGE.md").OrderBy(f => f.FullPath));
    docs.AddRange(GetFiles($"{root}/samples/*/README.md").OrderBy(f => f.FullPath));
    var addPackage = new System.Text.RegularExpressions.Regex(@"^\s*(dotnet add package [^#]+?)\s*(#.*)?$");
    List<string> PackageLines(string[] lines) => lines.Select(l => addPackage.Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).Distinct().ToList();
    var readmeLines = PackageLines(System.IO.File.ReadAllLines(docs[0].FullPath));
    var bases = new Dictionary<string, DirectoryPath>();
    var projects = new List<FilePath>();
    consumerBlocks.Clear();
    consumerFailures.Clear();
    foreach (var doc in docs)
    {
        var text = System.IO.File.ReadAllLines(doc.FullPath);
        var lines = PackageLines(text);
        if (lines.Count == 0) lines = readmeLines;
        string key = string.Join("\n", lines);
        if (!bases.TryGetValue(key, out var baseDir))
        {
            // The document's `dotnet add package` lines, run as written in a copy of the fresh project.
            baseDir = consumer.Combine($"base-{bases.Count}");
            CopyDirectory(template, baseDir);
            foreach (var line in lines)
                Run("dotnet", line.Substring("dotnet ".Length) + $" --project \"{baseDir}/Snippet.csproj\"");
            bases[key] = baseDir;
        }
        string rel = root.GetRelativePath(doc).FullPath;
        string stem = System.Text.RegularExpressions.Regex.Replace(rel.Replace(".md", ""), "[^A-Za-z0-9]+", "-").Trim('-').ToLowerInvariant();
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i].Trim() != "```csharp") continue;
            bool runnable = !(i > 0 && text[i - 1].Contains("snippet: compile-only"));
            int first = i + 2; // 1-based line number of the block's first line
            var body = new List<string>();
            for (i++; i < text.Length && text[i].Trim() != "```"; i++) body.Add(text[i]);
            string name = $"{stem}-l{first}";
            var dir = consumer.Combine(name);
            CopyDirectory(baseDir, dir);
            System.IO.File.Move(dir.CombineWithFilePath("Snippet.csproj").FullPath, dir.CombineWithFilePath($"{name}.csproj").FullPath);
            System.IO.File.WriteAllText(dir.CombineWithFilePath("Program.cs").FullPath, string.Join("\n", body) + "\n");
            projects.Add(dir.CombineWithFilePath($"{name}.csproj"));
            consumerBlocks.Add((name, $"{rel} line {first}", runnable));
        }
    }
    if (consumerBlocks.Count == 0) throw new Exception("the docs have no ```csharp block");

    var solution = consumer.CombineWithFilePath("snippets.slnx");
    Run("dotnet", $"new sln --name snippets --output \"{consumer}\" --format slnx");
    Run("dotnet", $"sln \"{solution}\" add {string.Join(" ", projects.Select(p => $"\"{p}\""))}");
    // Warnings are errors here (CA1416 and the rest): a block that compiles with a warning is a failed block.
    IEnumerable<string> output;
    int code = StartProcess("dotnet", new ProcessSettings
    {
        Arguments = $"build \"{solution}\" -c Release -warnaserror -nologo -clp:NoSummary",
        WorkingDirectory = consumer, RedirectStandardOutput = true,
    }, out output);
    var diagnostics = output.Where(l => l.Contains(": error ") || l.Contains(": warning ")).Distinct().ToList();
    foreach (var d in diagnostics) Error($"  consumer: {d}");
    foreach (var (name, where, _) in consumerBlocks)
        if (diagnostics.Any(d => d.Contains($"/{name}/")) || (code != 0 && diagnostics.Count == 0))
            consumerFailures.Add($"consumer: {where}: {FirstLine(diagnostics.FirstOrDefault(d => d.Contains($"/{name}/")) ?? $"the build failed (exit {code})")}");

    // Proof that the libraries came from artifacts/package: NuGet records each package's source.
    foreach (var id in libraryIds.Select(i => i.ToLowerInvariant()))
    {
        var metadata = consumer.CombineWithFilePath($"packages/{id}/{version.ToLowerInvariant()}/.nupkg.metadata");
        if (FileExists(metadata) && !System.IO.File.ReadAllText(metadata.FullPath).Contains(packages.FullPath))
            throw new Exception($"{id} {version} was not restored from {packages} ({metadata})");
    }

    // The runnable blocks, one process each, for the guest (or this machine): a line per block in $RIG_OUT/consumer.txt.
    var run = new System.Text.StringBuilder("#!/bin/sh\n# Generated by build.cake: runs the runnable doc blocks.\nout=${RIG_OUT:-" + consumer + "}/consumer.txt\n: > \"$out\"\n");
    foreach (var (name, where, runnable) in consumerBlocks.Where(b => b.Runnable && !consumerFailures.Any(f => f.StartsWith($"consumer: {b.Where}:"))))
        run.Append($"(cd /tmp && timeout 120 dotnet \"{consumer}/{name}/bin/Release/net10.0/{name}.dll\" > /tmp/{name}.log 2>&1); rc=$?; echo \"{where} $rc $(tail -n 3 /tmp/{name}.log | tr '\\n' ' ')\" >> \"$out\"\n");
    System.IO.File.WriteAllText(consumerRunScript.FullPath, run.ToString());
    Information($"consumer: {consumerBlocks.Count} doc blocks built against PrimeInterop {version} from {packages}, {consumerFailures.Count} failed");
});

// Reads what the consumer's run script wrote and adds the consumer's counts to the results.
void ReadConsumer(DirectoryPath outDir)
{
    var file = outDir.CombineWithFilePath("consumer.txt");
    var ran = FileExists(file) ? System.IO.File.ReadAllLines(file.FullPath) : Array.Empty<string>();
    var counts = new TestCounts();
    foreach (var (name, where, runnable) in consumerBlocks)
    {
        string failure = consumerFailures.FirstOrDefault(f => f.StartsWith($"consumer: {where}:"));
        if (failure is null && runnable)
        {
            string line = ran.FirstOrDefault(l => l.StartsWith(where + " ", StringComparison.Ordinal));
            if (line is null) failure = $"consumer: {where}: did not run (see {outDir}/serial.log)";
            else if (!line.Substring(where.Length + 1).StartsWith("0 ", StringComparison.Ordinal)) failure = $"consumer: {where}: exit {line.Substring(where.Length + 1)}";
        }
        if (failure is null) counts.Passed++;
        else { counts.Failed++; failures.Add(failure); Error($"  {failure}"); }
    }
    results.Add(("consumer", counts));
}

Task("Consumer").IsDependentOn("ConsumerBuild").Does(() =>
{
    if (!UseRig())
    {
        Run("sh", $"\"{consumerRunScript}\"");
        ReadConsumer(consumer);
    }
    else
    {
        Run("bash", $"\"{rigScript}\" prereqs");
        var (outDir, code) = RunInRig("a", "consumer", $"sh \"{consumerRunScript}\"", quiet: true);
        if (code == RigNoResult) throw new Exception($"the rig did not boot or run the doc blocks (exit {code}); see {outDir}/serial.log");
        ReadConsumer(outDir);
    }
    Summarize();
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
if (compositorLine is not null) Console.WriteLine(compositorLine); // the Compositor target's output ends with its line

class TestCounts
{
    public int Passed, Failed, Skipped;
    public override string ToString() => $"{Passed} passed, {Failed} failed, {Skipped} skipped";
}
