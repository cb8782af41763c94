using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace PrimeInterop;

/// <summary>Flags for exporting a GEM handle as a dma-buf. The fd is always close-on-exec.</summary>
[Flags]
public enum DmaBufExportFlags
{
    /// <summary>A read-only mapping fd (the kernel default).</summary>
    None = 0,

    /// <summary><c>DRM_RDWR</c>: the dma-buf fd can be mapped writable.</summary>
    ReadWrite = 0x2,
}

/// <summary>The one check of the flags a caller asks a new dma-buf fd for.</summary>
internal static class ExportFlags
{
    /// <summary>ArgumentOutOfRangeException for anything but <see cref="DmaBufExportFlags.ReadWrite"/> (close-on-exec is always set).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // on every export: a compare, its throw out of line
    public static void Check(DmaBufExportFlags flags)
    {
        if ((flags & ~DmaBufExportFlags.ReadWrite) != 0)
        {
            ThrowBad(flags);
        }
    }

    [DoesNotReturn]
    private static void ThrowBad(DmaBufExportFlags flags) =>
        throw new ArgumentOutOfRangeException(nameof(flags), flags, "Only DmaBufExportFlags.ReadWrite may be given; close-on-exec is always set.");
}
