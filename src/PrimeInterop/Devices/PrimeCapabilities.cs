namespace PrimeInterop;

/// <summary>The <c>DRM_CAP_PRIME</c> bits: whether a driver can import and/or export dma-bufs.</summary>
[Flags]
public enum PrimeCapabilities
{
    /// <summary>Neither import nor export.</summary>
    None = 0,

    /// <summary><c>DRM_PRIME_CAP_IMPORT</c>: the driver turns dma-buf fds into GEM handles.</summary>
    Import = Interop.Drm.DRM_PRIME_CAP_IMPORT,

    /// <summary><c>DRM_PRIME_CAP_EXPORT</c>: the driver turns GEM handles into dma-buf fds.</summary>
    Export = Interop.Drm.DRM_PRIME_CAP_EXPORT,
}
