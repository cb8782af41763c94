namespace PrimeInterop;

/// <summary>What <c>DRM_IOCTL_VERSION</c> reports about the driver behind a node.</summary>
/// <param name="Major">Driver major version.</param>
/// <param name="Minor">Driver minor version.</param>
/// <param name="Patch">Driver patch level.</param>
/// <param name="Name">Driver name, such as <c>vgem</c>, <c>vkms</c>, <c>i915</c>, <c>amdgpu</c>.</param>
/// <param name="Date">Driver date string.</param>
/// <param name="Description">Driver description.</param>
public sealed record DrmVersion(int Major, int Minor, int Patch, string Name, string Date, string Description)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name} {Major}.{Minor}.{Patch}";
}
