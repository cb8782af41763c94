using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using PrimeInterop.Hosting;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>The primectl sample: help, exit codes and messages everywhere; the two-process demo in the rig.</summary>
public sealed class SampleCliTests
{
    internal static (int Code, string Out, string Err) Primectl(params string[] args)
    {
        string dll = Path.Combine(LayoutTests.RepoRoot(), "artifacts", "bin", "primectl", "release", "primectl.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing; build the solution in Release first");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "primectl did not exit");
        return (p.ExitCode, stdout, stderr.Result);
    }

    [Theory]
    [InlineData("list")]
    [InlineData("export")]
    [InlineData("import")]
    [InlineData("demo")]
    public void Every_command_has_help(string command)
    {
        var (code, stdout, _) = Primectl(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains($"usage: primectl {command}", stdout, StringComparison.Ordinal);
        Assert.Contains("exit codes:", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Usage_errors_exit_2_and_say_what_is_wrong()
    {
        var (code, _, stderr) = Primectl("export", "--widht", "5");
        Assert.Equal(2, code);
        Assert.Contains("unknown option --widht", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("export", "--width", "lots");
        Assert.Equal(2, code);
        Assert.Contains("--width takes a non-negative number", stderr, StringComparison.Ordinal);
        (code, _, _) = Primectl("frobnicate");
        Assert.Equal(2, code);
        (code, _, _) = Primectl();
        Assert.Equal(2, code);
    }

    [Fact]
    public void A_missing_driver_exits_3_with_what_to_do_instead_of_a_stack_trace()
    {
        var (code, _, stderr) = Primectl("demo", "--driver", "nosuchdrm");
        Assert.Equal(3, code);
        Assert.Contains("no DRM node with driver 'nosuchdrm'", stderr, StringComparison.Ordinal);
        Assert.Contains("dotnet cake --target=Demo", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Import_without_an_exporter_fails_clearly()
    {
        var (code, _, stderr) = Primectl("import", "--socket", "/tmp/nobody-listens-here.sock");
        Assert.Equal(4, code);
        Assert.Contains("primectl import: cannot connect to an exporter on /tmp/nobody-listens-here.sock", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public async Task List_shows_vgem_with_prime_import_and_export_as_table_and_json()
    {
        KernelEnv.RequireVgem();
        var (code, stdout, _) = Primectl("list");
        Assert.Equal(0, code);
        Assert.Matches(@"/dev/dri/renderD\d+\s+render\s+vgem\s+\S+\s+import,export", stdout);

        // The JSON form in-process: under emulation another process start costs seconds and tests nothing more.
        using var services = new ServiceCollection().AddLogging().AddPrimeInterop().BuildServiceProvider();
        var list = new PrimeCtl.Commands.ListCommand(services.GetRequiredService<IDrmDeviceFactory>());
        var output = new StringWriter();
        TextWriter console = Console.Out;
        Console.SetOut(output);
        try
        {
            code = await list.RunAsync(PrimeCtl.ParsedOptions.Parse(list, ["--json"]), services, TestContext.Current.CancellationToken);
        }
        finally
        {
            Console.SetOut(console);
        }

        Assert.Equal(0, code);
        using var doc = System.Text.Json.JsonDocument.Parse(output.ToString());
        Assert.Contains(doc.RootElement.EnumerateArray(), e => e.GetProperty("driver").GetString() == "vgem" && e.GetProperty("primeExport").GetBoolean());
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void Demo_exports_in_one_process_and_imports_and_verifies_in_another()
    {
        KernelEnv.RequireVgem();
        string output = Directory.CreateTempSubdirectory("primectl-demo").FullName;
        var (code, stdout, stderr) = Primectl("demo", "--output", output);
        TestContext.Current.TestOutputHelper?.WriteLine(stdout);
        Assert.True(code == 0, $"demo exited {code}: {stdout}{stderr}");
        Assert.Matches(@"exported\s+pid (\d+)", stdout);
        Assert.Matches(@"imported\s+pid (\d+)", stdout);
        string exporter = System.Text.RegularExpressions.Regex.Match(stdout, @"exported\s+pid (\d+)").Groups[1].Value;
        string importer = System.Text.RegularExpressions.Regex.Match(stdout, @"imported\s+pid (\d+)").Groups[1].Value;
        Assert.NotEqual(exporter, importer); // two processes
        Assert.Contains("verified   all 65536 pixels", stdout, StringComparison.Ordinal);
        if (KernelEnv.HasCapability("vkms"))
        {
            Assert.Matches(@"framebuffer \d+ on /dev/dri/card\d+ \(vkms\)", stdout);
        }

        byte[] png = File.ReadAllBytes(Path.Combine(output, "primectl-demo.png"));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Directory.Delete(output, recursive: true);
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void AddPrimeInterop_opens_the_configured_device()
    {
        KernelEnv.RequireVgem();
        using var services = new ServiceCollection()
            .AddLogging()
            .AddPrimeInterop(o => o.Driver = "vgem")
            .BuildServiceProvider();
        var factory = services.GetRequiredService<IDrmDeviceFactory>();
        using var device = factory.Open();
        Assert.Equal("vgem", device.Version.Name);
        Assert.Equal(DrmNodeType.Render, device.NodeType);
        using var card = factory.Open("vgem", DrmNodeType.Primary);
        Assert.Equal(DrmNodeType.Primary, card.NodeType);
    }
}
