using System.Diagnostics;
using System.Net.Sockets;
using PrimeInterop;
using Wayland.Wire;

namespace PrimeComp;

/// <summary>What a <see cref="Compositor"/> serves and where.</summary>
public sealed record CompositorOptions
{
    /// <summary>The KMS card (a primary node); null: the vkms card.</summary>
    public string? CardPath { get; init; }

    /// <summary>The socket to listen on; null: only clients added with <see cref="Compositor.AddClient"/>.</summary>
    public string? SocketPath { get; init; }

    /// <summary>Where the compositor says what it refused and why; null: nowhere.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>How long a client's buffer may take to become ready (its fences) before the surface keeps its old one for that frame.</summary>
    public TimeSpan FenceTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a page flip may take before the compositor gives up (a driver that never flips).</summary>
    public TimeSpan FlipTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// A minimal Wayland compositor on PrimeInterop and the sample wire library: wl_compositor/wl_surface, xdg_wm_base and
/// linux-dmabuf (v3 modifiers, v4 feedback). Each client buffer's planes are imported into the KMS card once and
/// get a framebuffer for the buffer's life; each frame waits for the new buffers' implicit fences, puts every surface
/// on a plane of its own in one atomic commit (REFLECT_Y for y-inverted buffers), awaits the page flip, then sends
/// frame callbacks and releases the buffers that left the screen. Everything runs on one thread (<see cref="CompositorLoop"/>);
/// the public methods may be called from any thread.
/// </summary>
public sealed partial class Compositor : IDisposable
{
    private readonly CompositorOptions _options;
    private readonly WaylandServer _server;
    private readonly LinuxDmaBuf _dmabuf;
    private readonly CompositorLoop _loop;
    private readonly List<Surface> _surfaces = [];
    private readonly List<Task> _readers = [];
    private readonly RepaintSignal _repaint = new();
    private Task _repaintLoop = Task.CompletedTask;
    private Task _acceptLoop = Task.CompletedTask;
    private uint _serial;
    private bool _stopping;
    private bool _disposed;

    private Compositor(DrmDevice card, CompositorOptions options)
    {
        _options = options;
        Card = card;
        Output = new Output(card);
        try
        {
            _dmabuf = new LinuxDmaBuf(this, ScanoutFormats(Output));
            _server = options.SocketPath is null ? new WaylandServer() : WaylandServer.Listen(options.SocketPath);
        }
        catch
        {
            _dmabuf?.Dispose();
            Output.Dispose();
            throw;
        }

        var shell = new XdgShell(this);
        _server.AddGlobal(WlCompositor.Interface, 1, r => WlCompositor.Implement(r, new SurfaceFactory(this)));
        _server.AddGlobal(XdgWmBase.Interface, 1, r => XdgWmBase.Implement(r, shell));
        _server.AddGlobal(ZwpLinuxDmabufV1.Interface, 4, _dmabuf.Bind);
        _loop = new CompositorLoop("primecomp", FlushClients, TimeSpan.FromMilliseconds(100));
        _loop.Invoke(() =>
        {
            _repaintLoop = RepaintLoopAsync();
            if (_server.Listener is not null)
            {
                _acceptLoop = AcceptLoopAsync();
            }
        });
    }

    /// <summary>The KMS card, DRM master.</summary>
    public DrmDevice Card { get; }

    /// <summary>The socket clients connect to; null when the compositor does not listen.</summary>
    public string? SocketPath => _server.SocketPath;

    /// <summary>Buffers whose planes were imported (FD_TO_HANDLE) and framebuffers added (ADDFB2): once per wl_buffer.</summary>
    public int Imports { get; private set; }

    /// <summary>wl_buffers made by linux-dmabuf (created or create_immed).</summary>
    public int BuffersCreated { get; private set; }

    /// <summary>Page flips completed.</summary>
    public long Flips { get; private set; }

    /// <summary>The time from each frame's commit to its page-flip event, in milliseconds.</summary>
    public IReadOnlyList<double> CommitToFlip => _commitToFlip;

    /// <summary>
    /// What the kernel says this compositor's card file still held once every client was gone and the output was off,
    /// just before the file was closed: its framebuffers (GETRESOURCES) and GEM handles (probed one by one).
    /// </summary>
    public (int Framebuffers, int Handles)? LeftOver { get; private set; }

    /// <summary>The first exception the compositor's thread caught outside the repaint loop (a bug, not a client's); null if none.</summary>
    public Exception? LoopFailure => _loop.Failure;

    /// <summary>Why clients were disconnected (protocol errors), in order.</summary>
    public IReadOnlyList<string> Disconnects => _disconnects;

    /// <summary>
    /// Opens the card (the vkms card unless <see cref="CompositorOptions.CardPath"/> says another) before anything
    /// else can: the first open file of a card is its DRM master, and only the master may commit.
    /// </summary>
    public static Compositor Start(CompositorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        DrmDevice card = options.CardPath is null ? DrmDevice.OpenByDriver("vkms", DrmNodeType.Primary) : DrmDevice.Open(options.CardPath);
        try
        {
            if (!card.IsMaster)
            {
                throw new InvalidOperationException($"{card.Path} has a DRM master already (another compositor?); a compositor must open the card first");
            }

            return new Compositor(card, options);
        }
        catch
        {
            card.Dispose();
            throw;
        }
    }

    /// <summary>Serves a connected socket (one end of a socketpair) as a client.</summary>
    public void AddClient(Socket socket) => _loop.Invoke(() => Serve(_server.AddClient(socket)));

    /// <summary>Runs <paramref name="f"/> on the compositor's thread, where the scene may be read.</summary>
    public T Invoke<T>(Func<T> f) => _loop.Invoke(f);

    /// <summary>Runs <paramref name="a"/> on the compositor's thread.</summary>
    public void Invoke(Action a) => _loop.Invoke(a);

    /// <summary>Starts <paramref name="f"/> on the compositor's thread (its awaits come back there).</summary>
    public Task<T> RunAsync<T>(Func<Task<T>> f) => _loop.RunAsync(f);

    /// <summary>Disconnects every client, turns the output off, then closes every buffer and the card.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            _loop.RunAsync(StopAsync).GetAwaiter().GetResult();
        }
        finally
        {
            _loop.Dispose();
            Card.Dispose();
        }
    }

    internal Output Output { get; }

    internal IReadOnlyList<Surface> Surfaces => _surfaces;

    internal CompositorLoop Loop => _loop;

    internal uint NextSerial() => ++_serial;

    internal void Log(string message) => _options.Log?.Invoke(message);

    internal void ScheduleRepaint() => _repaint.Set();

    /// <summary>
    /// Imports the planes into the card (FD_TO_HANDLE, planes of one dma-buf sharing their handle) and adds a
    /// framebuffer (ADDFB2). Null, with the kernel's answer, when it refused; the description is disposed then.
    /// </summary>
    internal (ImportedBuffer Buffer, Framebuffer Framebuffer)? Import(DmaBufDescription description, out string? failure)
    {
        ImportedBuffer? imported = null;
        try
        {
            imported = Card.ImportBuffer(description);
            Framebuffer fb = Card.AddFramebuffer(imported);
            Imports++;
            failure = null;
            return (imported, fb);
        }
        catch (DrmException e)
        {
            imported?.Dispose();
            description.Dispose();
            failure = e.Message;
            return null;
        }
    }

    internal ClientBuffer AddBuffer(WaylandResource resource, DmaBufDescription description, (ImportedBuffer Buffer, Framebuffer Framebuffer) imported, uint flags)
    {
        BuffersCreated++;
        return new(resource, description, imported.Buffer, imported.Framebuffer, (flags & (uint)ZwpLinuxBufferParamsV1.Flags.YInvert) != 0);
    }

    /// <summary>The pairs every plane scans out, as linux-dmabuf advertises them: each format's modifiers, and INVALID (the driver's choice) beside them.</summary>
    private static List<FormatModifier> ScanoutFormats(Output output)
    {
        IEnumerable<DrmFormat>? common = null;
        foreach (DrmPlane plane in output.Planes)
        {
            DrmObjectProperties p = output.Card.GetProperties(plane.Id, DrmObjectType.Plane);
            IReadOnlyList<DrmFormat> formats = p.TryGetProperty("IN_FORMATS", out _)
                ? DrmFormat.ParseInFormats(output.Card.GetPropertyBlob((uint)p.GetValue("IN_FORMATS")))
                : [.. plane.Formats.Select(f => new DrmFormat(f, DmaBufDescription.LinearModifier))];
            common = common is null ? formats : common.Intersect(formats);
        }

        var result = new List<FormatModifier>();
        foreach (var group in (common ?? []).Where(f => f.Code.Info is not null).GroupBy(f => f.Code))
        {
            result.AddRange(group.Select(f => new FormatModifier(f.Code.Value, f.Modifier)));
            result.Add(new FormatModifier(group.Key.Value, DmaBufDescription.InvalidModifier));
        }

        return result;
    }

    private void Serve(WaylandServerClient client)
    {
        client.Closed += c =>
        {
            if (c.CloseReason is { } reason && reason.StartsWith("protocol error", StringComparison.Ordinal))
            {
                _disconnects.Add(reason);
                Log($"{c}: {reason}");
            }
        };
        _readers.RemoveAll(t => t.IsCompleted); // of clients gone
        _readers.Add(ReadLoopAsync(client));
    }

    /// <summary>Waits until the client's socket is readable (a peek, which takes neither bytes nor fds), then reads and dispatches.</summary>
    private static async Task ReadLoopAsync(WaylandServerClient client)
    {
        Socket socket = client.Wire.Socket;
        Memory<byte> peek = new byte[1];
        while (!client.IsClosed)
        {
            try
            {
                await socket.ReceiveAsync(peek, SocketFlags.Peek);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                client.Close($"receiving failed: {e.Message}");
                return;
            }

            try
            {
                client.ReceiveAndDispatch();
            }
            catch (ObjectDisposedException e)
            {
                client.Close($"its socket was closed: {e.Message}"); // by its owner, between the wait and the read
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        Socket listener = _server.Listener!;
        while (!_stopping)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return; // stopped
            }

            Serve(_server.AddClient(socket));
        }
    }

    private void FlushClients() => _server.FlushClients();

    private async Task StopAsync()
    {
        _stopping = true;
        _repaint.Set();
        try
        {
            await _repaintLoop;
        }
        finally
        {
            _server.Dispose(); // every client gone: their surfaces and buffers are destroyed
            try
            {
                await Task.WhenAll([.. _readers, _acceptLoop]);
            }
            finally
            {
                Output.Reset(); // every plane off: the buffers still on screen can go
                foreach (Surface s in _surfaces)
                {
                    ClientBuffer? shown = s.OnScreen;
                    s.OnScreen = null;
                    shown?.Drop();
                }

                _surfaces.Clear();
                Output.Dispose();
                _dmabuf.Dispose();
                if (Observer is IDisposable verification)
                {
                    verification.Dispose(); // its copies on the card
                }

                Observer = null;

                // The kernel's own account of this file, before it is closed (which would free everything anyway).
                LeftOver = (Card.GetResources().Framebuffers.Count, Verification.KernelProbe.OpenHandles(Card));
            }
        }
    }

    private readonly List<double> _commitToFlip = new(4096);
    private readonly List<string> _disconnects = [];

    private sealed class SurfaceFactory(Compositor compositor) : WlCompositor.IRequests
    {
        void WlCompositor.IRequests.CreateSurface(WaylandResource self, WaylandResource id) => compositor._surfaces.Add(new Surface(compositor, id));
    }
}
