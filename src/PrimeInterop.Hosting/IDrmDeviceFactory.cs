namespace PrimeInterop.Hosting;

/// <summary>Finds and opens DRM devices as configured by <see cref="PrimeInteropOptions"/>.</summary>
public interface IDrmDeviceFactory
{
    /// <summary>The DRM nodes on this machine, probed.</summary>
    IReadOnlyList<DrmNode> EnumerateNodes();

    /// <summary>Opens the configured device (the default options: <c>AddPrimeInterop</c>'s).</summary>
    /// <exception cref="DrmException">No matching device (ENODEV), or it cannot be opened.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the message names the setting.</exception>
    DrmDevice Open();

    /// <summary>Opens the device configured under <paramref name="name"/> (<c>AddPrimeInteropDevice(name, …)</c>).</summary>
    /// <exception cref="DrmException">No matching device (ENODEV), or it cannot be opened.</exception>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The options are invalid; the message names the setting.</exception>
    DrmDevice Open(string name);

    /// <summary>Opens a device by driver name (or any PRIME-capable one when null) on the given node type if it has one.</summary>
    DrmDevice Open(string? driver, DrmNodeType nodeType);
}
