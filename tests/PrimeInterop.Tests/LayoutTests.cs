using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// The managed ioctl numbers, struct sizes, field offsets and constants against native/layout-probe, a C
/// program compiled against the kernel's uapi headers. Runs without a kernel.
/// </summary>
public sealed class LayoutTests
{
    private static readonly Assembly Library = typeof(DrmDevice).Assembly;

    [Fact]
    public void Managed_definitions_match_the_kernel_headers_byte_for_byte()
    {
        var lines = RunProbe();
        Assert.NotEmpty(lines);
        var mismatches = new List<string>();
        var seenStructs = new HashSet<string>();
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
                "offset" => StructType(name.Split('.')[0]) is { } t ? (ulong)Marshal.OffsetOf(t, name.Split('.')[1]) : null,
                "cmsg_len" => (ulong)Interop.ScmRights.CmsgLen(int.Parse(name, CultureInfo.InvariantCulture) * sizeof(int)),
                "cmsg_space" => (ulong)Interop.ScmRights.CmsgSpace(int.Parse(name, CultureInfo.InvariantCulture) * sizeof(int)),
                _ => null,
            };
            if (kind == "size")
            {
                seenStructs.Add(name);
            }

            if (actual != expected)
            {
                mismatches.Add($"{kind} {name}: C says {expected:#x}, managed says {(actual is null ? "missing" : $"{actual:#x}")}");
            }
        }

        // Every blittable kernel struct in the interop folder must be checked, not only the ones the probe knows.
        // An inline array is a buffer, not a kernel struct: the probe checks the constant its size is made of.
        var unchecked_ = Library.GetTypes()
            .Where(t => t.Namespace == "PrimeInterop.Interop" && t.IsNested && t.IsValueType && !t.IsEnum
                && !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute))
                && !t.IsDefined(typeof(System.Runtime.CompilerServices.InlineArrayAttribute)))
            .Select(t => t.Name).Where(n => !seenStructs.Contains(n)).ToList();
        Assert.True(unchecked_.Count == 0, "structs the layout probe does not cover: " + string.Join(", ", unchecked_));
        Assert.True(mismatches.Count == 0, string.Join('\n', mismatches));
    }

    private static Type? StructType(string name) =>
        Library.GetTypes().FirstOrDefault(t => t.Namespace == "PrimeInterop.Interop" && t.Name == name && t.IsValueType);

    private static ulong? ManagedConstant(string name)
    {
        foreach (Type t in Library.GetTypes().Where(t => t.Namespace == "PrimeInterop.Interop"))
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
