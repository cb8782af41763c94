namespace PrimeInterop;

/// <summary>How an atomic commit is made (<c>DRM_MODE_ATOMIC_*</c>, <c>DRM_MODE_PAGE_FLIP_EVENT</c>).</summary>
[Flags]
public enum DrmAtomicCommitFlags : uint
{
    /// <summary>A blocking commit that may not change modes: it returns once the new state is on the screen.</summary>
    None = 0,

    /// <summary>
    /// <c>DRM_MODE_PAGE_FLIP_EVENT</c>: every CRTC in the commit sends a flip-complete event, carrying the commit's
    /// user data, once the new state is on the screen; read it with <see cref="DrmDevice.ReadEventAsync(TimeSpan, CancellationToken)"/>.
    /// </summary>
    PageFlipEvent = Interop.DrmModeAtomic.DRM_MODE_PAGE_FLIP_EVENT,

    /// <summary><c>DRM_MODE_ATOMIC_TEST_ONLY</c>: only check that the driver would accept the state; nothing changes.</summary>
    TestOnly = Interop.DrmModeAtomic.DRM_MODE_ATOMIC_TEST_ONLY,

    /// <summary><c>DRM_MODE_ATOMIC_NONBLOCK</c>: return at once; the state goes on the screen at the next vblank.</summary>
    Nonblock = Interop.DrmModeAtomic.DRM_MODE_ATOMIC_NONBLOCK,

    /// <summary><c>DRM_MODE_ATOMIC_ALLOW_MODESET</c>: the commit may change modes and turn CRTCs on or off.</summary>
    AllowModeset = Interop.DrmModeAtomic.DRM_MODE_ATOMIC_ALLOW_MODESET,
}
