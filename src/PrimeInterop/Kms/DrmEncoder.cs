namespace PrimeInterop;

/// <summary>An encoder (<c>DRM_IOCTL_MODE_GETENCODER</c>): what links a CRTC to connectors.</summary>
/// <param name="Id">The encoder's object id.</param>
/// <param name="Type">Its <c>DRM_MODE_ENCODER_*</c> type (5 is virtual).</param>
/// <param name="CrtcId">The CRTC it is bound to now; 0 when none.</param>
/// <param name="PossibleCrtcs">Bit <c>i</c>: it can be driven by CRTC index <c>i</c> (<see cref="DrmResources.Crtcs"/>).</param>
/// <param name="PossibleClones">Bit <c>i</c>: it can share a CRTC with encoder index <c>i</c>.</param>
public sealed record DrmEncoder(uint Id, uint Type, uint CrtcId, uint PossibleCrtcs, uint PossibleClones);
