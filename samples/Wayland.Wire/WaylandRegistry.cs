namespace Wayland.Wire;

/// <summary>A client's view of the compositor's globals (<c>wl_registry</c>), and binding them by interface.</summary>
public sealed class WaylandRegistry : WlRegistry.IEvents
{
    private readonly Dictionary<string, (uint Name, uint Version)> _globals = [];
    private readonly WaylandProxy _registry;

    private WaylandRegistry(WaylandProxy registry) => _registry = registry;

    /// <summary>The globals by interface name; of several (outputs), the first announced.</summary>
    public IReadOnlyDictionary<string, (uint Name, uint Version)> Globals => _globals;

    /// <summary><c>get_registry</c> and a round trip: every global the compositor has now is known.</summary>
    public static WaylandRegistry Load(WaylandClient connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var registry = new WaylandRegistry(WlDisplay.GetRegistry(connection.Display));
        WlRegistry.Listen(registry._registry, registry);
        connection.Roundtrip("the registry's globals");
        return registry;
    }

    public bool Has(string @interface) => _globals.ContainsKey(@interface);

    /// <summary>Binds <paramref name="interface"/> at the lower of <paramref name="wanted"/> and what the compositor offers.</summary>
    /// <exception cref="NotSupportedException">Not offered, or older than <paramref name="minimum"/>.</exception>
    public WaylandProxy Bind(WireInterface @interface, uint wanted, uint minimum = 1)
    {
        ArgumentNullException.ThrowIfNull(@interface);
        if (!_globals.TryGetValue(@interface.Name, out var global))
        {
            throw new NotSupportedException($"The compositor offers no {@interface.Name}.");
        }

        if (global.Version < minimum)
        {
            throw new NotSupportedException($"The compositor offers {@interface.Name} version {global.Version}; this client needs {minimum}.");
        }

        return WlRegistry.Bind(_registry, global.Name, @interface, Math.Min(Math.Min(wanted, global.Version), @interface.Version));
    }

    void WlRegistry.IEvents.Global(WaylandProxy self, uint name, string @interface, uint version) => _globals.TryAdd(@interface, (name, version));

    void WlRegistry.IEvents.GlobalRemove(WaylandProxy self, uint name)
    {
        foreach (var (key, value) in _globals)
        {
            if (value.Name == name)
            {
                _globals.Remove(key);
                return;
            }
        }
    }
}
