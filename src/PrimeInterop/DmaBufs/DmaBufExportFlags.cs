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
