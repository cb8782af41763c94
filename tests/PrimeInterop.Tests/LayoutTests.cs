using System.Globalization;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Runtime.InteropServices;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// The managed ioctl numbers, struct sizes, field offsets and constants against native/layout-probe, a C
/// program compiled against the kernel's uapi headers. Runs without a kernel, on every supported architecture: the
/// arm64 run (under qemu-aarch64) compares the aarch64 probe's answers with the layouts the arm64 runtime gives.
/// </summary>
public sealed class LayoutTests
{
    private static readonly Assembly Library = typeof(DrmDevice).Assembly;
    private static readonly Assembly TmdsLibC = typeof(Tmds.Linux.LibC).Assembly;

    // The kernel bindings: the library's, and the few the tests keep to themselves (sw_sync, a debugfs test driver).
    private static readonly Type[] Bindings =
        [.. typeof(DrmDevice).Assembly.GetTypes().Where(t => t.Namespace == "PrimeInterop.Interop"), typeof(SwSync), .. typeof(SwSync).GetNestedTypes()];

    // A struct whose layout differs by architecture has a type per layout: the header's name for x86-64's, and the
    // name with the architecture as suffix (epoll_event_arm64) for another's. Each architecture's run checks its own.
    private static readonly string[] OtherArchitectures =
        [.. new[] { Architecture.X64, Architecture.Arm64 }.Where(a => a != RuntimeInformation.ProcessArchitecture).Select(Suffix)];

    [Fact]
    public void Managed_definitions_match_the_kernel_headers_byte_for_byte()
    {
        var lines = RunProbe();
        Assert.NotEmpty(lines);
        var mismatches = new List<string>();
        var seenStructs = new HashSet<string>(); // the C names
        var checkedTypes = new HashSet<string>(); // the managed types they were compared with
        foreach (string line in lines)
        {
            string[] parts = line.Split(' ');
            string kind = parts[0], name = parts[1];
            ulong expected = parts[2].StartsWith("0x", StringComparison.Ordinal)
                ? ulong.Parse(parts[2].AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
                : ulong.Parse(parts[2], CultureInfo.InvariantCulture);
            ulong? actual = kind switch
            {
                "ioctl" or "const" => ManagedConstant(name),
                "size" => StructType(name) is { } t ? (ulong)Marshal.SizeOf(t) : null,
                "offset" => StructType(name.Split('.')[0]) is { } t ? FieldOffset(t, name.Split('.')[1]) : null,
                "cmsg_len" => (ulong)Interop.ScmRights.CmsgLen(int.Parse(name, CultureInfo.InvariantCulture) * sizeof(int)),
                "cmsg_space" => (ulong)Interop.ScmRights.CmsgSpace(int.Parse(name, CultureInfo.InvariantCulture) * sizeof(int)),
                _ => null,
            };
            if (kind == "size")
            {
                seenStructs.Add(name);
                checkedTypes.Add(StructType(name)?.Name ?? name);
            }

            if (actual != expected)
            {
                mismatches.Add($"{kind} {name}: C says 0x{expected:x}, managed says {(actual is null ? "missing" : $"0x{actual:x}")}");
            }
        }

        // Every blittable kernel struct in the interop folder must be checked, not only the ones the probe knows.
        // An inline array is a buffer, not a kernel struct: the probe checks the constant its size is made of.
        // Another architecture's layout is checked by that architecture's run.
        var unchecked_ = Bindings
            .Where(t => t.IsNested && t.IsValueType && !t.IsEnum
                && !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute))
                && !t.IsDefined(typeof(System.Runtime.CompilerServices.InlineArrayAttribute)))
            .Select(t => t.Name).Where(n => !checkedTypes.Contains(n) && !IsAnotherArchitecturesLayout(n))
            .Concat(TmdsLibCStructsUsed().Where(n => !seenStructs.Contains(n)).Select(n => $"{n} (Tmds.LibC)")).ToList();
        Assert.True(unchecked_.Count == 0, "structs the layout probe does not cover: " + string.Join(", ", unchecked_));
        Assert.True(mismatches.Count == 0, string.Join('\n', mismatches));
    }

    [Fact]
    public void The_architectures_the_layouts_were_checked_on_are_supported_and_no_other()
    {
        foreach (Architecture architecture in Enum.GetValues<Architecture>())
        {
            Assert.Equal(architecture is Architecture.X64 or Architecture.Arm64, Interop.Abi.IsSupportedArchitecture(architecture));
        }

        Assert.True(Interop.Abi.IsSupportedArchitecture(RuntimeInformation.ProcessArchitecture));
        var e = ThrowHelper.UnsupportedArchitecture(Architecture.RiscV64);
        Assert.Equal("PrimeInterop supports Linux on x64 (x86-64) and arm64 (aarch64) only; this process is riscv64, "
            + "whose kernel and libc layouts it was never checked against.", e.Message);
    }

    private static string Suffix(Architecture architecture) => "_" + architecture.ToString().ToLowerInvariant();

    /// <summary>The type this architecture's library gives the C struct <paramref name="name"/>: its own, else Tmds.LibC's.</summary>
    private static Type? StructType(string name) =>
        InteropType(name + Suffix(RuntimeInformation.ProcessArchitecture)) ?? InteropType(name)
        ?? (TmdsLibC.GetType("Tmds.Linux." + name) is { IsValueType: true } t ? t : null);

    /// <summary>The offset of a field, or of the field behind an auto-property (Tmds.LibC's pollfd has those).</summary>
    private static ulong? FieldOffset(Type type, string field)
    {
        const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        string? name = type.GetField(field, Instance)?.Name ?? type.GetField($"<{field}>k__BackingField", Instance)?.Name;
        return name is null ? null : (ulong)Marshal.OffsetOf(type, name);
    }

    private static Type? InteropType(string name) =>
        Bindings.FirstOrDefault(t => t.Name == name && t.IsValueType);

    /// <summary>A type with another architecture's suffix, or one that this architecture has its own variant of.</summary>
    private static bool IsAnotherArchitecturesLayout(string name) =>
        OtherArchitectures.Any(s => name.EndsWith(s, StringComparison.Ordinal))
        || InteropType(name + Suffix(RuntimeInformation.ProcessArchitecture)) is not null;

    /// <summary>
    /// The Tmds.LibC structs the library names (its metadata's type references into Tmds.Linux), leaving out the
    /// typedefs (one field: dev_t, off_t, size_t…), which the structs holding them are checked with.
    /// </summary>
    private static IEnumerable<string> TmdsLibCStructsUsed()
    {
        using var pe = new PEReader(File.OpenRead(Library.Location));
        MetadataReader metadata = pe.GetMetadataReader();
        return [.. metadata.TypeReferences.Select(h => metadata.GetTypeReference(h))
            .Where(r => metadata.GetString(r.Namespace) == "Tmds.Linux")
            .Select(r => TmdsLibC.GetType("Tmds.Linux." + metadata.GetString(r.Name)))
            .Where(t => t is { IsValueType: true } && t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).Length > 1)
            .Select(t => t!.Name)];
    }

    private static ulong? ManagedConstant(string name)
    {
        foreach (Type t in Bindings)
        {
            FieldInfo? f = t.GetField(name, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static);
            if (f is not null)
            {
                return Convert.ToUInt64(f.GetValue(null), CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    private static List<string> RunProbe() =>
        [.. ChildProcess.Run(Repo.NativeProgram("layout-probe"), []).AssertExitCode().Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
}
