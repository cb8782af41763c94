using System.Diagnostics.CodeAnalysis;
using System.Net.Sockets;
using System.Runtime.Versioning;

[assembly: SupportedOSPlatform("linux")]

namespace Consumer;

/// <summary>Runs each runnable README snippet; the snippets themselves are generated from README.md.</summary>
internal static class Program
{
    public static async Task<int> Main()
    {
        int failed = 0, ran = 0;
        foreach (var (name, run, runnable) in Snippets.All)
        {
            if (!runnable)
            {
                Console.WriteLine($"consumer: {name}: compiled (compile-only)");
                continue;
            }

            ran++;
            try
            {
                await run();
                Console.WriteLine($"consumer: {name}: compiled and ran");
            }
#pragma warning disable CA1031 // every failure is reported, and counted
            catch (Exception e)
#pragma warning restore CA1031
            {
                failed++;
                Console.WriteLine($"consumer: {name}: FAILED: {e}");
            }
        }

        Console.WriteLine($"consumer: {Snippets.All.Length} README snippets compiled against the packages, {ran} ran, {failed} failed");
        return failed == 0 && ran > 0 ? 0 : 1;
    }
}

/// <summary>What the README's snippets leave to the reader: filling pixels, and the compositor's accepted connection.</summary>
[SuppressMessage("Style", "IDE1006", Justification = "named as the README names them")]
internal static partial class Snippets
{
    private static Socket connection => throw new NotSupportedException("compile-only");

    private static void Fill(Span<byte> pixels) => pixels.Fill(0x80);
}
