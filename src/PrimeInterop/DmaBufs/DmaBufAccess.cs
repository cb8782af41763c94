namespace PrimeInterop;

/// <summary>Which way the CPU touches a dma-buf mapping; picks the <c>DMA_BUF_SYNC_*</c> flags.</summary>
[Flags]
public enum DmaBufAccess
{
    /// <summary>The CPU reads.</summary>
    Read = 1,

    /// <summary>The CPU writes.</summary>
    Write = 2,

    /// <summary>The CPU reads and writes.</summary>
    ReadWrite = Read | Write,
}
