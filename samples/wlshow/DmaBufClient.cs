using System.Diagnostics;
using PrimeInterop;

namespace WlShow;

/// <summary>A <c>wl_buffer</c> made from a <see cref="DmaBufDescription"/> with linux-dmabuf-v1.</summary>
public sealed class WaylandDmaBuffer
{
    internal WaylandDmaBuffer(WaylandObject proxy, DmaBufDescription description)
    {
        Proxy = proxy;
        Description = description;
        proxy.OnEvent = (opcode, _) =>
        {
            if (opcode == 0) // wl_buffer.release
            {
                Released = true;
                ReleaseCount++;
            }
        };
    }

    public WaylandObject Proxy { get; }

    public DmaBufDescription Description { get; }

    /// <summary>The compositor sent <c>wl_buffer.release</c> since the last time this buffer was attached.</summary>
    public bool Released { get; internal set; } = true;

    /// <summary>How many <c>wl_buffer.release</c> events arrived.</summary>
    public int ReleaseCount { get; private set; }

    public override string ToString() => $"{Proxy}: {Description}";
}

/// <summary>What <c>weston_screenshooter</c> wrote into the shm buffer: XRGB8888 rows of <see cref="Stride"/> bytes.</summary>
public sealed record Screenshot(int Width, int Height, int Stride, byte[] Pixels);

/// <summary>
/// A Wayland client that shows dma-bufs full screen: binds the globals it needs, reads the linux-dmabuf formats,
/// creates wl_buffers with <c>zwp_linux_buffer_params_v1.add</c> + <c>create_immed</c>, presents them through
/// <c>zwp_fullscreen_shell_v1</c> and reads the output back with <c>weston_screenshooter</c>.
/// Opcodes and argument orders are those of wayland.xml, linux-dmabuf-unstable-v1.xml,
/// fullscreen-shell-unstable-v1.xml and weston 10's weston-screenshooter.xml.
/// </summary>
public sealed class DmaBufClient : IDisposable
{
    private const uint ShmFormatXrgb8888 = 1; // wl_shm.format.xrgb8888

    private readonly WaylandConnection _connection;
    private readonly Dictionary<string, (uint Name, uint Version)> _globals = [];
    private readonly Dictionary<uint, HashSet<ulong>> _formats = [];
    private readonly WaylandObject _compositor;
    private readonly WaylandObject _shm;
    private readonly WaylandObject? _dmabuf;
    private readonly WaylandObject _output;
    private readonly WaylandObject? _shell;
    private readonly WaylandObject? _screenshooter;
    private WaylandObject? _surface;
    private bool _shotDone;

    private DmaBufClient(WaylandConnection connection)
    {
        _connection = connection;
        WaylandObject registry = connection.NewObject("wl_registry", 1);
        registry.OnEvent = (opcode, args) =>
        {
            if (opcode == 0) // global(uint name, string interface, uint version)
            {
                uint name = args.Uint();
                string iface = args.String() ?? "";
                uint version = args.Uint();
                _globals.TryAdd(iface, (name, version)); // the first output is the one we use
            }
        };
        connection.Send(connection.Display, 1, new WireWriter().NewId(registry)); // wl_display.get_registry
        connection.Roundtrip("the registry's globals");

        _compositor = Bind(registry, "wl_compositor", 4);
        _shm = Bind(registry, "wl_shm", 1);
        // Without linux-dmabuf (weston's pixman renderer) the client still connects; CreateBuffer says why it cannot.
        _dmabuf = _globals.ContainsKey("zwp_linux_dmabuf_v1") ? Bind(registry, "zwp_linux_dmabuf_v1", 3, minimum: 3) : null;
        _dmabuf?.OnEvent = (opcode, args) =>
        {
            switch (opcode)
            {
                case 0: // format(uint format): no explicit modifier
                    Formats(args.Uint()).Add(DmaBufDescription.InvalidModifier);
                    break;
                case 1: // modifier(uint format, uint modifier_hi, uint modifier_lo), since v3
                    uint format = args.Uint();
                    ulong hi = args.Uint();
                    Formats(format).Add((hi << 32) | args.Uint());
                    break;
            }
        };
        _output = Bind(registry, "wl_output", 2);
        _output.OnEvent = (opcode, args) =>
        {
            if (opcode == 0) // geometry(int x, int y, int pw, int ph, int subpixel, string make, string model, int transform)
            {
                for (int i = 0; i < 5; i++)
                {
                    args.Int();
                }

                OutputMake = args.String();
                OutputModel = args.String();
            }
            else if (opcode == 1) // mode(uint flags, int width, int height, int refresh)
            {
                uint flags = args.Uint();
                int w = args.Int();
                int h = args.Int();
                if ((flags & 1) != 0) // current
                {
                    OutputWidth = w;
                    OutputHeight = h;
                }
            }
        };
        if (_globals.ContainsKey("zwp_fullscreen_shell_v1"))
        {
            _shell = Bind(registry, "zwp_fullscreen_shell_v1", 1);
        }

        if (_globals.ContainsKey("weston_screenshooter"))
        {
            _screenshooter = Bind(registry, "weston_screenshooter", 1);
            _screenshooter.OnEvent = (_, _) => _shotDone = true; // done (weston 10: no arguments)
        }

        connection.Roundtrip("the dma-buf formats and the output's mode");
        if (OutputWidth <= 0 || OutputHeight <= 0)
        {
            throw new WaylandProtocolException($"{_output} sent no current mode.");
        }
    }

    /// <summary>The compositor's process name and id (SO_PEERCRED + /proc/PID/comm), e.g. "weston (pid 123)".</summary>
    public string CompositorName
    {
        get
        {
            int? pid = _connection.PeerProcessId;
            string? comm = pid is null ? null : TryRead($"/proc/{pid}/comm")?.Trim();
            return pid is null ? "unknown" : $"{comm ?? "?"} (pid {pid})";
        }
    }

    /// <summary>The globals the compositor announced, name → version.</summary>
    public IReadOnlyDictionary<string, uint> Globals => _globals.ToDictionary(g => g.Key, g => g.Value.Version);

    /// <summary>The version of <c>zwp_linux_dmabuf_v1</c> in use; 0 when the compositor offers none.</summary>
    public uint DmaBufVersion => _dmabuf?.Version ?? 0;

    /// <summary>What linux-dmabuf advertised: format → modifiers.</summary>
    public IReadOnlyDictionary<DrmFourcc, IReadOnlySet<ulong>> DmaBufFormats =>
        _formats.ToDictionary(f => new DrmFourcc(f.Key), f => (IReadOnlySet<ulong>)f.Value);

    public int OutputWidth { get; private set; }

    public int OutputHeight { get; private set; }

    public string? OutputMake { get; private set; }

    public string? OutputModel { get; private set; }

    /// <summary>The connection underneath (request counter, timeout).</summary>
    public WaylandConnection Connection => _connection;

    /// <summary>Connects to <paramref name="socketPath"/>, or to $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY (wayland-0).</summary>
    public static DmaBufClient Connect(string? socketPath = null, TimeSpan? timeout = null)
    {
        socketPath ??= DefaultSocketPath();
        var connection = WaylandConnection.Connect(socketPath, ErrorName);
        try
        {
            if (timeout is { } t)
            {
                connection.Timeout = t;
            }

            return new DmaBufClient(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public static string DefaultSocketPath()
    {
        string display = Environment.GetEnvironmentVariable("WAYLAND_DISPLAY") is { Length: > 0 } d ? d : "wayland-0";
        if (Path.IsPathRooted(display))
        {
            return display;
        }

        string runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR")
            ?? throw new InvalidOperationException("XDG_RUNTIME_DIR is not set, so there is no Wayland socket to find; pass the socket path.");
        return Path.Combine(runtime, display);
    }

    /// <summary>True when the compositor advertised <paramref name="format"/> with <paramref name="modifier"/>.</summary>
    public bool IsAdvertised(DrmFourcc format, ulong modifier) =>
        _formats.TryGetValue(format.Value, out var modifiers) && modifiers.Contains(modifier);

    /// <summary>
    /// Creates a wl_buffer from the description (one <c>add</c> per plane, its fd by SCM_RIGHTS, then
    /// <c>create_immed</c>) and waits for the compositor's verdict. The description stays the caller's.
    /// </summary>
    /// <exception cref="NotSupportedException">The format/modifier pair was not advertised; nothing was sent.</exception>
    /// <exception cref="WaylandProtocolException">The compositor rejected the buffer (protocol error or <c>failed</c>).</exception>
    public WaylandDmaBuffer CreateBuffer(DmaBufDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        if (_dmabuf is null)
        {
            throw new NotSupportedException("The compositor offers no zwp_linux_dmabuf_v1 (weston's pixman renderer has none; run it with GL); nothing was sent.");
        }

        if (!IsAdvertised(description.Format, description.Modifier))
        {
            string offered = _formats.TryGetValue(description.Format.Value, out var mods)
                ? "only with modifier(s) " + string.Join(", ", mods.Select(WaylandConnection.Hex))
                : "not at all";
            throw new NotSupportedException(
                $"The compositor does not advertise {description.Format} with modifier {WaylandConnection.Hex(description.Modifier)} " +
                $"through zwp_linux_dmabuf_v1 (it offers this format {offered}); nothing was sent.");
        }

        WaylandObject parameters = _connection.NewObject("zwp_linux_buffer_params_v1", _dmabuf.Version);
        bool failed = false;
        parameters.OnEvent = (opcode, _) => failed |= opcode == 1; // failed (created only follows 'create')
        _connection.Send(_dmabuf, 1, new WireWriter().NewId(parameters)); // create_params
        for (int i = 0; i < description.Planes.Count; i++)
        {
            DmaBufPlane plane = description.Planes[i];
            // add(fd fd, uint plane_idx, uint offset, uint stride, uint modifier_hi, uint modifier_lo)
            _connection.Send(parameters, 1, new WireWriter().Fd(plane.Buffer).Uint((uint)i).Uint(plane.Offset).Uint(plane.Stride)
                .Uint((uint)(description.Modifier >> 32)).Uint((uint)description.Modifier));
        }

        WaylandObject buffer = _connection.NewObject("wl_buffer", 1);
        var result = new WaylandDmaBuffer(buffer, description);
        // create_immed(new_id buffer_id, int width, int height, uint format, uint flags)
        _connection.Send(parameters, 3, new WireWriter().NewId(buffer).Int((int)description.Width).Int((int)description.Height)
            .Uint(description.Format.Value).Uint(0));
        _connection.Send(parameters, 0, new WireWriter()); // destroy: the params object is used up
        _connection.Roundtrip($"the compositor's answer to {parameters}.create_immed");
        if (failed)
        {
            throw new WaylandProtocolException(parameters.ToString(), null, null,
                $"the compositor could not import the buffer (failed event): {description}");
        }

        return result;
    }

    /// <summary>
    /// Shows the buffer full screen (attach, damage, frame, commit) and waits for the frame callback.
    /// </summary>
    public void Present(WaylandDmaBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        buffer.Released = false;
        Present(buffer.Proxy, (int)buffer.Description.Width, (int)buffer.Description.Height);
    }

    /// <summary><see cref="Present(WaylandDmaBuffer)"/> for any wl_buffer of that size.</summary>
    internal void Present(WaylandObject buffer, int width, int height)
    {
        if (_surface is null)
        {
            if (_shell is null)
            {
                throw new NotSupportedException("The compositor offers no zwp_fullscreen_shell_v1 (run weston with --shell=fullscreen-shell.so).");
            }

            _surface = _connection.NewObject("wl_surface", _compositor.Version);
            _connection.Send(_compositor, 0, new WireWriter().NewId(_surface)); // create_surface
            // present_surface(object surface, uint method = default, object output)
            _connection.Send(_shell, 1, new WireWriter().Object(_surface).Uint(0).Object(_output));
        }

        _connection.Send(_surface, 1, new WireWriter().Object(buffer).Int(0).Int(0)); // attach
        _connection.Send(_surface, _surface.Version >= 4 ? (ushort)9 : (ushort)2, new WireWriter().Int(0).Int(0).Int(width).Int(height)); // damage_buffer / damage
        WaylandObject callback = _connection.NewObject("wl_callback", 1);
        bool done = false;
        callback.OnEvent = (_, _) => done = true;
        _connection.Send(_surface, 3, new WireWriter().NewId(callback)); // frame
        _connection.Send(_surface, 6, new WireWriter()); // commit
        _connection.WaitFor(() => done, $"the frame callback of {_surface}");
    }

    /// <summary>
    /// A wl_shm XRGB8888 buffer of the output's size holding <paramref name="pixels"/> (rows of width * 4 bytes), in a
    /// memfd the caller disposes: shows the compositor side without any DRM device (tests on machines without one).
    /// </summary>
    internal WaylandObject CreateShmBuffer(ReadOnlySpan<byte> pixels, out Microsoft.Win32.SafeHandles.SafeFileHandle memory)
    {
        int stride = OutputWidth * 4;
        int size = checked(stride * OutputHeight);
        memory = MemFd.Create("wlshow-shm", size);
        RandomAccess.Write(memory, pixels[..size], 0);
        WaylandObject pool = _connection.NewObject("wl_shm_pool", 1);
        _connection.Send(_shm, 0, new WireWriter().NewId(pool).Fd(memory).Int(size)); // create_pool(new_id, fd, int size)
        WaylandObject buffer = _connection.NewObject("wl_buffer", 1);
        _connection.Send(pool, 0, new WireWriter().NewId(buffer).Int(0).Int(OutputWidth).Int(OutputHeight).Int(stride).Uint(ShmFormatXrgb8888));
        _connection.Send(pool, 1, new WireWriter()); // destroy
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
        _connection.Send(buffer.Proxy, 0, new WireWriter());
    }

    /// <summary>
    /// Reads the whole output back through <c>weston_screenshooter.shoot</c> into a memfd-backed wl_shm buffer.
    /// </summary>
    public Screenshot TakeScreenshot()
    {
        if (_screenshooter is null)
        {
            throw new NotSupportedException("The compositor offers no weston_screenshooter (run weston with --debug).");
        }

        int stride = OutputWidth * 4;
        int size = checked(stride * OutputHeight);
        using var memory = MemFd.Create("wlshow-screenshot", size);
        WaylandObject pool = _connection.NewObject("wl_shm_pool", 1);
        _connection.Send(_shm, 0, new WireWriter().NewId(pool).Fd(memory).Int(size)); // create_pool(new_id, fd, int size)
        WaylandObject shot = _connection.NewObject("wl_buffer", 1);
        // create_buffer(new_id id, int offset, int width, int height, int stride, uint format)
        _connection.Send(pool, 0, new WireWriter().NewId(shot).Int(0).Int(OutputWidth).Int(OutputHeight).Int(stride).Uint(ShmFormatXrgb8888));
        _connection.Send(pool, 1, new WireWriter()); // destroy (the buffer keeps the memory)
        _shotDone = false;
        _connection.Send(_screenshooter, 0, new WireWriter().Object(_output).Object(shot)); // shoot(output, buffer)
        _connection.WaitFor(() => _shotDone, $"{_screenshooter}.done");
        _connection.Send(shot, 0, new WireWriter()); // wl_buffer.destroy
        byte[] pixels = new byte[size];
        int read = RandomAccess.Read(memory, pixels, 0);
        Debug.Assert(read == size, "a memfd of the right size reads in full");
        return new Screenshot(OutputWidth, OutputHeight, stride, pixels);
    }

    /// <summary>Closes the connection; the compositor destroys every object of this client.</summary>
    public void Dispose() => _connection.Dispose();

    /// <summary>The name of error <paramref name="code"/> of <paramref name="iface"/> (from the protocol XML).</summary>
    internal static string? ErrorName(string iface, uint code) => (iface, code) switch
    {
        ("zwp_linux_buffer_params_v1", 0) => "already_used",
        ("zwp_linux_buffer_params_v1", 1) => "plane_idx",
        ("zwp_linux_buffer_params_v1", 2) => "plane_set",
        ("zwp_linux_buffer_params_v1", 3) => "incomplete",
        ("zwp_linux_buffer_params_v1", 4) => "invalid_format",
        ("zwp_linux_buffer_params_v1", 5) => "invalid_dimensions",
        ("zwp_linux_buffer_params_v1", 6) => "out_of_bounds",
        ("zwp_linux_buffer_params_v1", 7) => "invalid_wl_buffer",
        ("wl_shm", 0) or ("wl_shm_pool", 0) => "invalid_format",
        ("wl_shm", 1) or ("wl_shm_pool", 1) => "invalid_stride",
        ("wl_shm", 2) or ("wl_shm_pool", 2) => "invalid_fd",
        ("wl_surface", 0) => "invalid_scale",
        ("wl_surface", 1) => "invalid_transform",
        ("wl_surface", 2) => "invalid_size",
        ("wl_surface", 3) => "invalid_offset",
        ("zwp_fullscreen_shell_v1", 0) => "invalid_method",
        _ => null,
    };

    private HashSet<ulong> Formats(uint format)
    {
        if (!_formats.TryGetValue(format, out var set))
        {
            _formats[format] = set = [];
        }

        return set;
    }

    private WaylandObject Bind(WaylandObject registry, string iface, uint wanted, uint minimum = 1)
    {
        if (!_globals.TryGetValue(iface, out var global))
        {
            throw new NotSupportedException($"The compositor offers no {iface}.");
        }

        if (global.Version < minimum)
        {
            throw new NotSupportedException($"The compositor offers {iface} version {global.Version}; this client needs {minimum}.");
        }

        WaylandObject o = _connection.NewObject(iface, Math.Min(wanted, global.Version));
        // bind(uint name, new_id id): an untyped new_id travels as (string interface, uint version, uint id)
        _connection.Send(registry, 0, new WireWriter().Uint(global.Name).String(iface).Uint(o.Version).NewId(o));
        return o;
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
