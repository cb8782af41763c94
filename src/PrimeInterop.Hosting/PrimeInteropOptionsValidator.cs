using Microsoft.Extensions.Options;
using PrimeInterop;

namespace PrimeInterop.Hosting;

/// <summary>
/// Checks <see cref="PrimeInteropOptions"/> when the host starts, with messages that name the setting by the
/// configuration path it was bound from (<c>PrimeInterop:NodeType</c>, <c>Devices:Display:Driver</c>, …).
/// </summary>
internal sealed class PrimeInteropOptionsValidator(PrimeInteropSections sections) : IValidateOptions<PrimeInteropOptions>
{
    public ValidateOptionsResult Validate(string? name, PrimeInteropOptions options)
    {
        string section = sections.Describe(name);
        var failures = new List<string>();
        if (!Enum.IsDefined(options.NodeType))
        {
            failures.Add($"{section}:NodeType is {(int)options.NodeType}; use Primary or Render.");
        }

        if (options.DevicePath is { Length: > 0 } path && !(Path.IsPathFullyQualified(path) && path.StartsWith("/dev/", StringComparison.Ordinal)))
        {
            failures.Add($"{section}:DevicePath '{path}' is not an absolute path under /dev (for example /dev/dri/renderD128).");
        }

        if (options.Driver is { } driver && (driver.Length == 0 || driver.Any(c => c is '/' or '\0' || char.IsWhiteSpace(c))))
        {
            failures.Add($"{section}:Driver '{driver}' is not a driver name (for example vgem, amdgpu, i915); leave it unset for any PRIME-capable device.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
