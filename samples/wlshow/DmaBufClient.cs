using Microsoft.Win32.SafeHandles;
using PrimeInterop;
using Wayland.Wire;

namespace WlShow;

/// <summary>A <c>wl_buffer</c> made from a <see cref="DmaBufDescription"/> with linux-dmabuf-v1.</summary>
public sealed class WaylandDmaBuffer : WlBuffer.IEvents
{
    internal WaylandDmaBuffer(WaylandProxy proxy, DmaBufDescription description)
    {
        Proxy = proxy;
        Description = description;
        WlBuffer.Listen(proxy, this);
    }

    public WaylandProxy Proxy { get; }

    public DmaBufDescription Description { get; }

    /// <summary>The compositor sent <c>wl_buffer.release</c> since the last time this buffer was attached.</summary>
    public bool Released { get; internal set; } = true;

    /// <summary>How many <c>wl_buffer.release</c> events arrived.</summary>
    public int ReleaseCount { get; private set; }

    public override string ToString() => $"{Proxy}: {Description}";

    void WlBuffer.IEvents.Release(WaylandProxy self)
    {
        Released = true;
        ReleaseCount++;
    }
}

/// <summary>
/// A Wayland client that shows dma-bufs full screen on any compositor: binds the globals it needs, learns the
/// dma-buf formats (linux-dmabuf v4 feedback when offered, else v3 <c>modifier</c> events), puts one surface full
/// screen (xdg-shell, or the fullscreen shell), creates wl_buffers with <c>add</c> + <c>create_immed</c>, and reads
/// the output back with the capture protocol the compositor offers.
/// </summary>
public sealed class DmaBufClient : IDisposable, ZwpLinuxDmabufV1.IEvents, WlOutput.IEvents, WlCallback.IEvents, ZwpLinuxBufferParamsV1.IEvents
{
    private readonly WaylandClient _connection;
    private readonly WaylandRegistry _registry;
    private readonly Dictionary<uint, HashSet<ulong>> _v3Formats = [];
    private readonly WaylandProxy _compositor;
    private readonly WaylandProxy _shm;
    private readonly WaylandProxy? _dmabuf;
    private readonly WaylandProxy _output;
    private readonly Capture? _capture;
    private readonly ShellChoice _shellChoice;
    private WaylandProxy? _surface;
    private SurfaceRole? _role;
    private bool _frameDone;
    private bool _paramsFailed;

    private DmaBufClient(WaylandClient connection, ShellChoice shell)
    {
        _connection = connection;
        _shellChoice = shell;
        _registry = WaylandRegistry.Load(connection);
        CompositorName = DescribePeer(connection.PeerProcessId, out string? comm);
        Kind = CompositorHints.Identify(comm, _registry.Globals.Keys);

        _compositor = _registry.Bind(WlCompositor.Interface, 4);
        _shm = _registry.Bind(WlShm.Interface, 1);
        if (_registry.Has(ZwpLinuxDmabufV1.Name))
        {
            // v4 gives feedback (format table, devices, tranches) instead of format/modifier events.
            _dmabuf = _registry.Bind(ZwpLinuxDmabufV1.Interface, 4, minimum: 3);
            ZwpLinuxDmabufV1.Listen(_dmabuf, this);
            if (_dmabuf.Version >= 4)
            {
                Feedback = new DmaBufFeedback();
                ZwpLinuxDmabufFeedbackV1.Listen(ZwpLinuxDmabufV1.GetDefaultFeedback(_dmabuf), Feedback);
            }
        }

        _output = _registry.Bind(WlOutput.Interface, 2);
        WlOutput.Listen(_output, this);
        connection.Roundtrip("the dma-buf formats and the output's mode");
        if (Feedback is not null)
        {
            connection.WaitFor(() => Feedback.IsDone, "the linux-dmabuf feedback's done event");
        }

        if (OutputWidth <= 0 || OutputHeight <= 0)
        {
            throw new WaylandProtocolException($"{_output} sent no current mode.");
        }

        if (_registry.Has(WestonScreenshooter.Name))
        {
            _capture = new WestonScreenshotCapture(connection, _registry.Bind(WestonScreenshooter.Interface, 1), _shm, _output, () => (OutputWidth, OutputHeight));
        }
        else if (_registry.Has(ZwlrScreencopyManagerV1.Name))
        {
            _capture = new WlrScreencopyCapture(connection, _registry.Bind(ZwlrScreencopyManagerV1.Interface, 3), _shm, _output);
        }
    }

    /// <summary>The compositor's process name and id (SO_PEERCRED + /proc/PID/comm), e.g. "weston (pid 123)".</summary>
    public string CompositorName { get; }

    /// <summary>weston, a wlroots compositor, or another: which causes the messages name.</summary>
    public CompositorKind Kind { get; }

    /// <summary>The globals the compositor announced, name → version.</summary>
    public IReadOnlyDictionary<string, uint> Globals => _registry.Globals.ToDictionary(g => g.Key, g => g.Value.Version);

    /// <summary>The version of <c>zwp_linux_dmabuf_v1</c> in use; 0 when the compositor offers none.</summary>
    public uint DmaBufVersion => _dmabuf?.Version ?? 0;

    /// <summary>linux-dmabuf v4's default feedback; null below v4.</summary>
    public DmaBufFeedback? Feedback { get; }

    /// <summary>What linux-dmabuf advertised: format → modifiers (from the feedback's tranches with v4).</summary>
    public IReadOnlyDictionary<DrmFourcc, IReadOnlySet<ulong>> DmaBufFormats => Feedback is null
        ? _v3Formats.ToDictionary(f => new DrmFourcc(f.Key), f => (IReadOnlySet<ulong>)f.Value)
        : Feedback.Tranches.SelectMany(t => t.Formats).GroupBy(f => f.Format)
            .ToDictionary(g => new DrmFourcc(g.Key), g => (IReadOnlySet<ulong>)g.Select(f => f.Modifier).ToHashSet());

    public int OutputWidth { get; private set; }

    public int OutputHeight { get; private set; }

    public string? OutputMake { get; private set; }

    public string? OutputModel { get; private set; }

    /// <summary>The shell in use, once the surface exists (see <see cref="ShowSurface"/>).</summary>
    public string? ShellName => _role?.Name;

    /// <summary>The capture protocol in use, or null when the compositor offers none wlshow speaks.</summary>
    public string? CaptureName => _capture?.Name;

    /// <summary>The size buffers must have: what the shell configured, else the output's.</summary>
    public (int Width, int Height) SurfaceSize => _role?.ConfiguredSize is ( > 0, > 0) s ? s : (OutputWidth, OutputHeight);

    /// <summary>The connection underneath (request counter, timeout).</summary>
    public WaylandClient Connection => _connection;

    internal SurfaceRole? Role => _role;

    /// <summary>Connects to <paramref name="socketPath"/>, or to $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY (wayland-0).</summary>
    public static DmaBufClient Connect(string? socketPath = null, TimeSpan? timeout = null, ShellChoice shell = ShellChoice.Auto)
    {
        var connection = WaylandClient.Connect(socketPath ?? WaylandClient.DefaultSocketPath());
        return Over(connection, timeout, shell);
    }

    /// <summary>A client over an existing connection (an in-process compositor, in tests); disposes it on failure.</summary>
    internal static DmaBufClient Over(WaylandClient connection, TimeSpan? timeout, ShellChoice shell)
    {
        try
        {
            if (timeout is { } t)
            {
                connection.Timeout = t;
            }

            return new DmaBufClient(connection, shell);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>True when the compositor advertised <paramref name="format"/> with <paramref name="modifier"/>.</summary>
    public bool IsAdvertised(DrmFourcc format, ulong modifier) =>
        DmaBufFormats.TryGetValue(format, out var modifiers) && modifiers.Contains(modifier);

    /// <summary>
    /// The modifier for a linear buffer of <paramref name="format"/> made on the card <paramref name="cardPath"/>,
    /// and why: with v4 from the tranches that target the card's device (see <see cref="DmaBufFeedback.Choose"/>; the
    /// main device's when the compositor names no tranche for it), with v3 from the <c>modifier</c> events (LINEAR
    /// when listed, else INVALID). Throws when the compositor offers the format with neither.
    /// </summary>
    public DmaBufChoice ChooseModifier(DrmFourcc format, string cardPath)
    {
        ThrowIfNoDmaBuf();

        if (Feedback is not null)
        {
            string? key = DeviceKeyOf(cardPath);
            DrmDeviceNumber? device = Feedback.Tranches.Select(t => t.TargetDevice).Distinct()
                .FirstOrDefault(d => key is not null && d.NodePath() is { } n && DeviceKeyOf(n) == key);
            DmaBufChoice choice = Feedback.Choose(format, device) ?? throw new NotSupportedException(
                $"{CompositorName}'s linux-dmabuf feedback offers {format} with neither LINEAR nor INVALID " +
                $"(it offers {string.Join(", ", Feedback.ModifiersOf(format).Select(DmaBufFeedback.ModifierName).DefaultIfEmpty("nothing for it"))}); wlshow's dumb buffers are linear.");
            return device is null
                ? choice with { Explanation = choice.Explanation + $" ({cardPath} is not a device the compositor names: it may fail to import)" }
                : choice;
        }

        foreach (ulong modifier in (ulong[])[DmaBufDescription.LinearModifier, DmaBufDescription.InvalidModifier])
        {
            if (IsAdvertised(format, modifier))
            {
                return new DmaBufChoice(modifier, $"linux-dmabuf v{DmaBufVersion} modifier events: {format} with {DmaBufFeedback.ModifierName(modifier)}");
            }
        }

        throw new NotSupportedException($"{CompositorName} does not offer {format} with LINEAR or INVALID through zwp_linux_dmabuf_v1 v{DmaBufVersion}.");
    }

    /// <summary>Throws, saying what is missing and its likely causes, when the compositor offers no linux-dmabuf.</summary>
    public void ThrowIfNoDmaBuf()
    {
        if (_dmabuf is null)
        {
            throw new NotSupportedException(CompositorHints.NoDmaBuf(CompositorName, Kind));
        }
    }

    /// <summary>
    /// The primary node of the device the compositor names as its main device (v4), where wlshow can make dumb
    /// buffers it will import; null without v4 feedback or when that device has no primary node here.
    /// </summary>
    public string? MainDevicePrimaryNode()
    {
        if (Feedback?.MainDevice?.NodePath() is not { } node)
        {
            return null;
        }

        var nodes = DrmNode.Enumerate();
        string? key = nodes.FirstOrDefault(n => n.Path == node)?.DeviceKey;
        return nodes.FirstOrDefault(n => n.DeviceKey == key && n.Type == DrmNodeType.Primary)?.Path;
    }

    private static string? DeviceKeyOf(string nodePath) => DrmNode.Enumerate().FirstOrDefault(n => n.Path == nodePath)?.DeviceKey;

    /// <summary>
    /// Creates the surface and gives it its role: xdg-shell (a fullscreen toplevel, configured and acknowledged)
    /// by default, the fullscreen shell when it is the only one or when asked. Idempotent.
    /// </summary>
    public void ShowSurface()
    {
        if (_surface is not null)
        {
            return;
        }

        bool hasXdg = _registry.Has(XdgWmBase.Name), hasFullscreen = _registry.Has(ZwpFullscreenShellV1.Name);
        bool useXdg = _shellChoice switch
        {
            ShellChoice.Xdg => hasXdg,
            ShellChoice.Fullscreen => false,
            _ => hasXdg,
        };
        if (!useXdg && (_shellChoice == ShellChoice.Xdg || !hasFullscreen))
        {
            throw new NotSupportedException(CompositorHints.NoShell(CompositorName, Kind, _shellChoice, hasXdg, hasFullscreen));
        }

        _surface = WlCompositor.CreateSurface(_compositor);
        _role = useXdg
            ? new XdgToplevelRole(_connection, _registry.Bind(XdgWmBase.Interface, 1), _surface, _output)
            : new FullscreenShellRole(_registry.Bind(ZwpFullscreenShellV1.Interface, 1), _surface, _output);
    }

    /// <summary>
    /// Creates a wl_buffer from the description (one <c>add</c> per plane, its fd by SCM_RIGHTS, then
    /// <c>create_immed</c>) and waits for the compositor's verdict. The description stays the caller's.
    /// </summary>
    /// <exception cref="NotSupportedException">No linux-dmabuf, or the format/modifier pair was not advertised; nothing was sent.</exception>
    /// <exception cref="WaylandProtocolException">The compositor rejected the buffer (protocol error or <c>failed</c>).</exception>
    public WaylandDmaBuffer CreateBuffer(DmaBufDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        ThrowIfNoDmaBuf();

        if (!IsAdvertised(description.Format, description.Modifier))
        {
            string offered = DmaBufFormats.TryGetValue(description.Format, out var mods)
                ? "only with modifier(s) " + string.Join(", ", mods.Select(m => $"0x{m:x}"))
                : "not at all";
            throw new NotSupportedException(
                $"The compositor does not advertise {description.Format} with modifier 0x{description.Modifier:x} " +
                $"through zwp_linux_dmabuf_v1 (it offers this format {offered}); nothing was sent.");
        }

        WaylandProxy parameters = ZwpLinuxDmabufV1.CreateParams(_dmabuf!);
        _paramsFailed = false;
        ZwpLinuxBufferParamsV1.Listen(parameters, this);
        for (int i = 0; i < description.Planes.Count; i++)
        {
            DmaBufPlane plane = description.Planes[i];
            ZwpLinuxBufferParamsV1.Add(parameters, plane.Buffer, (uint)i, plane.Offset, plane.Stride, (uint)(description.Modifier >> 32), (uint)description.Modifier);
        }

        WaylandProxy buffer = ZwpLinuxBufferParamsV1.CreateImmed(parameters, (int)description.Width, (int)description.Height, description.Format.Value, 0);
        var result = new WaylandDmaBuffer(buffer, description);
        ZwpLinuxBufferParamsV1.Destroy(parameters); // used up
        _connection.Roundtrip($"the compositor's answer to {parameters}.create_immed");
        if (_paramsFailed)
        {
            throw new WaylandProtocolException(parameters.ToString(), null, null,
                $"the compositor could not import the buffer (failed event): {description}");
        }

        return result;
    }

    /// <summary>Shows the buffer full screen (attach, damage, frame, commit) and waits for the frame callback.</summary>
    public void Present(WaylandDmaBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        buffer.Released = false;
        Present(buffer.Proxy, (int)buffer.Description.Width, (int)buffer.Description.Height);
    }

    /// <summary><see cref="Present(WaylandDmaBuffer)"/> for any wl_buffer of that size.</summary>
    internal void Present(WaylandProxy buffer, int width, int height)
    {
        ShowSurface();
        WaylandProxy surface = _surface!;
        _role!.BeforeCommit();
        WlSurface.Attach(surface, buffer, 0, 0);
        if (surface.Version >= 4)
        {
            WlSurface.DamageBuffer(surface, 0, 0, width, height);
        }
        else
        {
            WlSurface.Damage(surface, 0, 0, width, height);
        }

        _frameDone = false;
        WlCallback.Listen(WlSurface.Frame(surface), this);
        WlSurface.Commit(surface);
        _connection.WaitFor(() => _frameDone || IsClosed(), $"the frame callback of {surface}");
        _role.ThrowIfClosed();
    }

    /// <summary>An XRGB8888 wl_shm buffer holding <paramref name="pixels"/> (shows the compositor side without a DRM device).</summary>
    internal WaylandProxy CreateShmBuffer(ReadOnlySpan<byte> pixels, int width, int height, out SafeFileHandle memory)
    {
        WaylandProxy buffer = Capture.CreateShmBuffer(_shm, width, height, width * 4, WlShm.Format.Xrgb8888, out memory);
        RandomAccess.Write(memory, pixels[..(width * height * 4)], 0);
        return buffer;
    }

    /// <summary>Waits until the compositor released the buffer (<c>wl_buffer.release</c>).</summary>
    public void WaitForRelease(WaylandDmaBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        _connection.WaitFor(() => buffer.Released, $"{buffer.Proxy}.release");
    }

    /// <summary>Destroys the wl_buffer (the dma-bufs stay the description's).</summary>
    public void Destroy(WaylandDmaBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer.Proxy.Connection != _connection)
        {
            throw new ArgumentException($"{buffer.Proxy} belongs to another connection.", nameof(buffer));
        }

        WlBuffer.Destroy(buffer.Proxy);
    }

    /// <summary>Reads the whole output back with the compositor's capture protocol (weston_screenshooter or wlr screencopy).</summary>
    public Screenshot TakeScreenshot() =>
        (_capture ?? throw new NotSupportedException(CompositorHints.NoCapture(CompositorName, Kind))).Take();

    /// <summary>Closes the connection; the compositor destroys every object of this client.</summary>
    public void Dispose() => _connection.Dispose();

    private bool IsClosed()
    {
        try
        {
            _role?.ThrowIfClosed();
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    private static string DescribePeer(int? pid, out string? comm)
    {
        comm = null;
        if (pid is null)
        {
            return "the compositor";
        }

        try
        {
            comm = File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return $"{comm ?? "?"} (pid {pid})";
    }

    private HashSet<ulong> V3Formats(uint format)
    {
        if (!_v3Formats.TryGetValue(format, out var set))
        {
            _v3Formats[format] = set = [];
        }

        return set;
    }

    void ZwpLinuxDmabufV1.IEvents.Format(WaylandProxy self, uint format) => V3Formats(format).Add(DmaBufDescription.InvalidModifier);

    void ZwpLinuxDmabufV1.IEvents.Modifier(WaylandProxy self, uint format, uint modifierHi, uint modifierLo) =>
        V3Formats(format).Add(((ulong)modifierHi << 32) | modifierLo);

    void WlOutput.IEvents.Geometry(WaylandProxy self, int x, int y, int physicalWidth, int physicalHeight, int subpixel, string make, string model, int transform)
    {
        OutputMake = make;
        OutputModel = model;
    }

    void WlOutput.IEvents.Mode(WaylandProxy self, uint flags, int width, int height, int refresh)
    {
        if ((flags & (uint)WlOutput.Mode.Current) != 0)
        {
            OutputWidth = width;
            OutputHeight = height;
        }
    }

    void WlCallback.IEvents.Done(WaylandProxy self, uint callbackData) => _frameDone = true;

    void ZwpLinuxBufferParamsV1.IEvents.Failed(WaylandProxy self) => _paramsFailed = true;
}
