using Microsoft.Extensions.DependencyInjection;
using PrimeCtl;
using PrimeInterop.Hosting;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>The primectl sample: help, exit codes and messages everywhere; the two-process demo in the rig.</summary>
public sealed class SampleCliTests
{
    internal static (int Code, string Out, string Err) Primectl(params string[] args) => PrimectlWith([], args);

    internal static (int Code, string Out, string Err) PrimectlWith(Dictionary<string, string> environment, params string[] args)
    {
        var result = ChildProcess.RunDotnet(Repo.SampleAssembly("primectl"), args, environment);
        return (result.ExitCode, result.Out, result.Err);
    }

    [Theory]
    [InlineData("list")]
    [InlineData("export")]
    [InlineData("import")]
    [InlineData("demo")]
    [InlineData("completions")]
    public void Every_command_has_help(string command)
    {
        var (code, stdout, _) = Primectl(command, "--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains($"primectl {command} ", stdout, StringComparison.Ordinal);
        Assert.Contains("Usage:", stdout, StringComparison.Ordinal);
        Assert.Contains("-v, --verbose", stdout, StringComparison.Ordinal);
        Assert.Equal(stdout, Primectl("help", command).Out); // `help list` is `list --help`
    }

    [Fact]
    public void Top_level_help_and_version()
    {
        var (code, stdout, _) = Primectl("--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("Exit codes: 0 ok, 1 pixels did not verify, 2 usage error, 3 no DRM device", stdout, StringComparison.Ordinal);
        Assert.Contains("PRIMECTL_PrimeInterop__Driver", stdout, StringComparison.Ordinal);
        (code, stdout, _) = Primectl("--version");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Matches(@"^\d+\.\d+\.\d+", stdout);
    }

    [Fact]
    public void Usage_errors_exit_2_say_what_is_wrong_and_suggest_the_fix()
    {
        var (code, _, stderr) = Primectl("export", "--widht", "5");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("'--widht' was not matched. Did you mean", stderr, StringComparison.Ordinal);
        Assert.Contains("--width", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("export", "--width", "lots");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--width must be a whole number from 1 to 16384, not 'lots'.", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("lsit");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("Did you mean", stderr, StringComparison.Ordinal);
        Assert.Contains("list", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Required command was not provided", stderr, StringComparison.Ordinal); // the mistyped word is the error
        (code, _, _) = Primectl("list", "--json=yes");
        Assert.Equal(ExitCodes.Usage, code);
        (code, _, stderr) = Primectl();
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("primectl: a command is required: list, export, import, demo, completions, help.", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("export", "--source", "gpu");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("dumb", stderr, StringComparison.Ordinal);
        Assert.Contains("udmabuf", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("help", "frob");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("no command 'frob'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("export", "--width", "0");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--width must be a whole number from 1 to 16384, not '0'.", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_values_are_named_in_the_user_s_words_not_the_parser_s()
    {
        var (code, _, stderr) = Primectl("export", "--width", "-3");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--width must be a whole number from 1 to 16384, not '-3'.", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("System.UInt32", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("export", "--count", "-1");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--count must be a whole number of 0 or more, not '-1'.", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("import", "--node", "foo");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--node must be render or primary, not 'foo'.", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Primary primary", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Primectl("lst");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.DoesNotContain("Required command was not provided", stderr, StringComparison.Ordinal);
        Assert.Contains("Unrecognized command or argument 'lst'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Verbose_is_global_and_response_files_work()
    {
        string rsp = Path.Combine(Path.GetTempPath(), $"primectl-{Environment.ProcessId}.rsp");
        File.WriteAllLines(rsp, ["export", "--width", "lots"]);
        try
        {
            var (code, _, stderr) = Primectl("-v", $"@{rsp}");
            Assert.Equal(ExitCodes.Usage, code); // the response file's arguments were parsed, after a global -v
            Assert.Contains("'lots'", stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(rsp);
        }

        var (c, _, err) = Primectl("-v", "demo", "--driver", "nosuchdrm", "--output", Path.GetTempPath());
        Assert.True(c == ExitCodes.NoDevice, $"exit {c}: {err}");
        Assert.Contains("dbug:", err, StringComparison.Ordinal); // debug logging on
        Assert.Contains("   at ", err, StringComparison.Ordinal); // and the stack, only with -v
    }

    [Fact]
    public void Completions_come_from_the_parser()
    {
        var (code, stdout, _) = Primectl("[suggest:9]", "export --");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("--width", stdout.Split('\n'));
        (code, stdout, _) = Primectl("completions", "bash");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("complete -o default -F _primectl_complete primectl", stdout, StringComparison.Ordinal);
        (code, stdout, _) = Primectl("completions", "fish");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("complete -c primectl -f -a '(__primectl_complete)'", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void The_png_writer_writes_a_valid_png()
    {
        string path = Path.Combine(Path.GetTempPath(), $"primectl-{Environment.ProcessId}.png");
        byte[] pixels = [0x03, 0x02, 0x01, 0xff, 0x06, 0x05, 0x04, 0xff]; // 2x1 XRGB8888: B, G, R, X
        try
        {
            PngWriter.WriteXrgb8888(path, pixels, 2, 1, 8);
            byte[] png = File.ReadAllBytes(path);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a], png[..8]);
            Assert.Equal([0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D', 0xae, 0x42, 0x60, 0x82], png[^12..]); // IEND's well-known CRC
            int idat = 8 + 12 + 13; // signature, IHDR chunk
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(idat));
            using var z = new System.IO.Compression.ZLibStream(new MemoryStream(png, idat + 8, length), System.IO.Compression.CompressionMode.Decompress);
            var raw = new MemoryStream();
            z.CopyTo(raw);
            Assert.Equal([0, 1, 2, 3, 4, 5, 6], raw.ToArray()); // filter byte 0, then R G B per pixel
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_missing_driver_exits_3_with_what_to_do_instead_of_a_stack_trace()
    {
        var (code, _, stderr) = Primectl("demo", "--driver", "nosuchdrm", "--output", Path.GetTempPath());
        Assert.True(code == ExitCodes.NoDevice, $"exit {code}: {stderr}");
        Assert.Contains("no DRM node with driver 'nosuchdrm'", stderr, StringComparison.Ordinal);
        int user = stderr.IndexOf("sudo modprobe vgem", StringComparison.Ordinal), contributor = stderr.IndexOf("dotnet cake --target=Demo", StringComparison.Ordinal);
        Assert.True(user > 0 && contributor > user, $"the end user's fix comes first, then the contributor's: {stderr}");
        Assert.Contains("sudo usermod -aG render,video $USER", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("primectl demo:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void No_device_is_exit_3_and_one_line()
    {
        if (Directory.Exists("/dev/dri"))
        {
            return; // a machine with DRM devices: the rig's list test covers it
        }

        foreach (string[] args in new[] { new[] { "list" }, ["list", "--json"] })
        {
            var (code, stdout, stderr) = Primectl(args);
            Assert.Equal(ExitCodes.NoDevice, code);
            Assert.Equal("", stdout); // not even "[]" for --json: a script sees exit 3 and no data, never an empty success
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("primectl list: no DRM device (there is no /dev/dri). To fix: load a DRM driver", stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_configured_driver_is_used_and_bad_configuration_is_a_usage_error()
    {
        var (code, _, stderr) = PrimectlWith(new() { ["PRIMECTL_PrimeInterop__Driver"] = "nosuchdrm" }, "demo", "--output", Path.GetTempPath());
        Assert.Equal(ExitCodes.NoDevice, code);
        Assert.Contains("no DRM node with driver 'nosuchdrm'", stderr, StringComparison.Ordinal);

        (code, _, stderr) = PrimectlWith(new() { ["PRIMECTL_PrimeInterop__NodeType"] = "Bogus" }, "list");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("invalid configuration", stderr, StringComparison.Ordinal);
        Assert.Contains("Bogus", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);

        (code, _, stderr) = PrimectlWith(new() { ["PRIMECTL_PrimeInterop__DevicePath"] = "dri/card0" }, "list");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("PrimeInterop:DevicePath 'dri/card0' is not an absolute path under /dev", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void An_output_directory_that_cannot_be_written_is_a_message()
    {
        var (code, _, stderr) = Primectl("demo", "--output", "/proc/primectl-cannot-write-here");
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("primectl demo: cannot write /proc/primectl-cannot-write-here/primectl-demo.png", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Import_without_an_exporter_fails_clearly()
    {
        var (code, _, stderr) = Primectl("import", "--socket", "/tmp/nobody-listens-here.sock");
        Assert.Equal(ExitCodes.Failed, code);
        Assert.Contains("primectl import: cannot connect to an exporter on /tmp/nobody-listens-here.sock", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void List_shows_vgem_with_prime_import_and_export_as_table_and_json()
    {
        KernelEnv.RequireVgem();
        var (code, stdout, _) = Primectl("list");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Matches(@"/dev/dri/renderD\d+\s+render\s+vgem\s+\S+\s+import,export", stdout);

        // The JSON form in-process: under emulation another process start costs seconds and tests nothing more.
        using var services = PrimeCtl.PrimeCtlCommand.CreateServices(verbose: false);
        var output = new StringWriter();
        code = PrimeCtl.Commands.ListCommand.Write(services.GetRequiredService<IDrmDeviceFactory>().EnumerateNodes().Select(n => n.Probe()).ToList(), json: true, output);

        Assert.Equal(ExitCodes.Ok, code);
        using var doc = System.Text.Json.JsonDocument.Parse(output.ToString());
        Assert.Contains(doc.RootElement.EnumerateArray(), e => e.GetProperty("driver").GetString() == "vgem" && e.GetProperty("primeExport").GetBoolean());
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void Demo_with_a_udmabuf_source_draws_through_the_memfd_under_a_write_fence()
    {
        KernelEnv.RequireCapability("udmabuf");
        string output = Directory.CreateTempSubdirectory("primectl-demo").FullName;
        // A fence of 4 s: the importer must see it still pending, which a 1 s one did not on a loaded emulated host.
        var (code, stdout, stderr) = Primectl("demo", "--source", "udmabuf", "--fence-ms", "4000", "--output", output); // its output is in the test's log
        Assert.True(code == ExitCodes.Ok, $"demo exited {code}: {stdout}{stderr}");
        Assert.Contains("udmabuf over a sealed memfd", stdout, StringComparison.Ordinal);
        Assert.Contains("drew the test image after sending, under the pending fence", stdout, StringComparison.Ordinal);
        Assert.Matches(@"waited\s+\d+ ms for the exporter's write fence", stdout);
        Assert.Contains("verified   all 65536 pixels", stdout, StringComparison.Ordinal);
        Directory.Delete(output, recursive: true);
    }

    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void Demo_exports_in_one_process_and_imports_and_verifies_in_another()
    {
        KernelEnv.RequireVgem();
        string output = Directory.CreateTempSubdirectory("primectl-demo").FullName;
        var (code, stdout, stderr) = Primectl("demo", "--fence-ms", "4000", "--output", output); // its output is in the test's log (4 s: see above)
        Assert.True(code == ExitCodes.Ok, $"demo exited {code}: {stdout}{stderr}");
        Assert.Matches(@"exported\s+pid (\d+)", stdout);
        Assert.Matches(@"imported\s+pid (\d+)", stdout);
        string exporter = System.Text.RegularExpressions.Regex.Match(stdout, @"exported\s+pid (\d+)").Groups[1].Value;
        string importer = System.Text.RegularExpressions.Regex.Match(stdout, @"imported\s+pid (\d+)").Groups[1].Value;
        Assert.NotEqual(exporter, importer); // two processes
        Assert.Contains("verified   all 65536 pixels", stdout, StringComparison.Ordinal);
        Assert.Matches(@"waited\s+\d+ ms for the exporter's write fence", stdout); // sent before drawing, read after the signal
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
