using Microsoft.Extensions.Options;

namespace PrimeInterop.Hosting;

/// <summary>
/// Where each named <see cref="PrimeInteropOptions"/> came from, for messages: the configuration section's path when
/// bound from configuration, else <c>PrimeInterop</c> (the default options) or <c>PrimeInterop[name]</c>.
/// </summary>
internal sealed class PrimeInteropSections
{
    private readonly Dictionary<string, string> _paths = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>The names of the devices registered with AddPrimeInteropDevice (the default one is <see cref="Options.DefaultName"/>).</summary>
    public List<string> Devices { get; } = [];

    public void Record(string name, string path)
    {
        lock (_lock)
        {
            _paths[name] = path;
        }
    }

    public string Describe(string? name)
    {
        name ??= Options.DefaultName;
        lock (_lock)
        {
            return _paths.TryGetValue(name, out string? path) ? path : name.Length == 0 ? "PrimeInterop" : $"PrimeInterop[{name}]";
        }
    }
}
