using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
using Wayland.Wire;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// A minimal compositor on the sample's server-side wire library, in-process on its own thread: what wlshow needs
/// from a compositor that no compositor in the rig offers — linux-dmabuf v4 feedback (a sealed format table, a main
/// device, tranches) and wlroots' screencopy — plus xdg-shell's configure/ack and ping/pong, wl_shm and a surface
/// that releases the buffer it replaced. Dma-bufs are checked by the kernel (fstatfs) and imported into
/// <see cref="MiniCompositorOptions.ImportCard"/> when one is given; screencopy copies the committed buffer's pixels
/// (read through the dma-buf mapping) bottom-up and says so with the y_invert flag, in XBGR8888 as sway's GLES
/// outputs do (red and blue swapped against the client's XRGB8888).
/// </summary>
internal sealed class MiniCompositor : IDisposable
{
    private readonly WaylandServer _server = new();
    private readonly MiniCompositorOptions _options;
    private readonly BlockingCollection<Action> _work = [];
    private readonly Thread _thread;
    private readonly SafeFileHandle? _table;
    private readonly uint _tableSize;
    private volatile bool _stop;

    public MiniCompositor(MiniCompositorOptions options)
    {
        _options = options;
        if (options.DmaBufVersion >= 4)
        {
            _table = DmaBufFormatTable.Create(options.Table, out _tableSize);
        }

        _server.AddGlobal(WlCompositor.Interface, 4, r => WlCompositor.Implement(r, new CompositorRequests(this)));
        _server.AddGlobal(WlShm.Interface, 1, r =>
        {
            WlShm.Implement(r, new ShmRequests());
            WlShm.SendFormat(r, (uint)WlShm.Format.Xrgb8888);
        });
        _server.AddGlobal(WlOutput.Interface, 2, r =>
        {
            WlOutput.SendGeometry(r, 0, 0, 0, 0, 0, "PrimeInterop", "mini", 0);
            WlOutput.SendMode(r, (uint)WlOutput.Mode.Current, options.Width, options.Height, 60000);
            WlOutput.SendDone(r);
        });
        if (options.DmaBufVersion > 0)
        {
            _server.AddGlobal(ZwpLinuxDmabufV1.Interface, options.DmaBufVersion, BindDmaBuf);
        }

        _server.AddGlobal(XdgWmBase.Interface, 1, r =>
        {
            XdgWmBase.Implement(r, new XdgRequests(this));
            XdgWmBase.SendPing(r, _server.NextSerial()); // answered while the client waits for anything
        });
        _server.AddGlobal(ZwlrScreencopyManagerV1.Interface, 3, r => ZwlrScreencopyManagerV1.Implement(r, new ScreencopyRequests(this)));
        _thread = new Thread(Loop) { IsBackground = true, Name = "mini-compositor" };
        _thread.Start();
    }

    // What the client did, read by the test through Invoke (the server's thread owns all of it).
    public List<ulong> ModifiersAdded { get; } = [];

    public int BuffersImported { get; private set; }

    public int Pongs { get; private set; }

    public int Acks { get; private set; }

    public int Commits { get; private set; }

    public List<string> Errors { get; } = [];

    /// <summary>A client connected through a socketpair; the caller owns the client end.</summary>
    public WaylandClient Connect()
    {
        var pair = new SocketPair();
        Invoke(() => _server.AddClient(pair.B).Closed += c => Errors.Add(c.CloseReason ?? ""));
        return WaylandClient.FromSocket(pair.A);
    }

    /// <summary>Runs <paramref name="f"/> on the compositor's thread and returns its result.</summary>
    public T Invoke<T>(Func<T> f)
    {
        T result = default!;
        Exception? error = null;
        using var done = new ManualResetEventSlim();
        _work.Add(() =>
        {
            try
            {
                result = f();
            }
#pragma warning disable CA1031 // handed to the caller's thread
            catch (Exception e)
#pragma warning restore CA1031
            {
                error = e;
            }

            done.Set();
        });
        if (!done.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("the mini compositor did not run the call");
        }

        return error is null ? result : throw new InvalidOperationException("on the compositor's thread", error);
    }

    public void Invoke(Action a) => Invoke(() =>
    {
        a();
        return 0;
    });

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        _server.Dispose();
        _table?.Dispose();
        _work.Dispose();
    }

    private void Loop()
    {
        while (!_stop)
        {
            while (_work.TryTake(out Action? a))
            {
                a();
            }

            _server.Dispatch(TimeSpan.FromMilliseconds(20));
        }
    }

    private void BindDmaBuf(WaylandResource r)
    {
        ZwpLinuxDmabufV1.Implement(r, new DmaBufRequests(this));
        if (r.Version < 4)
        {
            foreach (FormatModifier f in _options.Table)
            {
                ZwpLinuxDmabufV1.SendModifier(r, f.Format, (uint)(f.Modifier >> 32), (uint)f.Modifier);
            }
        }
    }

    private void SendFeedback(WaylandResource feedback) =>
        DmaBufFeedbackEvents.Send(feedback, _options.Table, _table!, _tableSize, _options.MainDevice,
            _options.Tranches.Select(t => new DmaBufTranche(t.Device, t.Flags, [.. t.Indices.Select(i => _options.Table[i])])));

    /// <summary>A wl_buffer's pixels: a dma-buf (imported) or an shm pool's range.</summary>
    private sealed class BufferData : WlBuffer.IRequests, IDisposable
    {
        public DmaBuf? DmaBuf { get; init; }

        public GemHandle? Handle { get; init; }

        public SafeFileHandle? Shm { get; init; }

        public long Offset { get; init; }

        public int Width { get; init; }

        public int Height { get; init; }

        public int Stride { get; init; }

        public void Dispose()
        {
            Handle?.Dispose();
            DmaBuf?.Dispose();
        }

        /// <summary>Row <paramref name="y"/>'s bytes.</summary>
        public byte[] Row(int y)
        {
            byte[] row = new byte[Width * 4];
            if (DmaBuf is not null)
            {
                using var map = DmaBuf.Map(DmaBufAccess.Read);
                using var cpu = map.BeginAccess(DmaBufAccess.Read);
                cpu.Span.Slice(y * Stride, Width * 4).CopyTo(row);
            }
            else
            {
                RandomAccess.Read(Shm!, row, Offset + ((long)y * Stride));
            }

            return row;
        }
    }

    private sealed class CompositorRequests(MiniCompositor c) : WlCompositor.IRequests
    {
        void WlCompositor.IRequests.CreateSurface(WaylandResource self, WaylandResource id)
        {
            var surface = new Surface(c, id);
            id.Data = surface;
            WlSurface.Implement(id, surface);
        }
    }

    private sealed class Surface(MiniCompositor c, WaylandResource resource) : WlSurface.IRequests
    {
        private readonly List<WaylandResource> _callbacks = [];
        private WaylandResource? _pending;
        private WaylandResource? _current;

        public XdgState? Xdg { get; set; }

        public WaylandResource? Current => _current;

        void WlSurface.IRequests.Attach(WaylandResource self, WaylandResource? buffer, int x, int y) => _pending = buffer;

        void WlSurface.IRequests.Damage(WaylandResource self, int x, int y, int width, int height)
        {
        }

        void WlSurface.IRequests.DamageBuffer(WaylandResource self, int x, int y, int width, int height)
        {
        }

        void WlSurface.IRequests.Frame(WaylandResource self, WaylandResource callback) => _callbacks.Add(callback);

        void WlSurface.IRequests.Commit(WaylandResource self)
        {
            c.Commits++;
            if (Xdg is { } xdg)
            {
                if (!xdg.Configured)
                {
                    // The first commit of an xdg surface: configure it (full screen, the output's size).
                    xdg.Configured = true;
                    XdgToplevel.SendConfigure(xdg.Toplevel!, c._options.Width, c._options.Height, BitConverter.GetBytes((uint)XdgToplevel.State.Fullscreen));
                    xdg.Serial = c._server.NextSerial();
                    XdgSurface.SendConfigure(xdg.Surface, xdg.Serial);
                }
                else if (_pending is not null && !xdg.Acked)
                {
                    xdg.Surface.PostError((uint)XdgSurface.Error.UnconfiguredBuffer, "a buffer was committed before ack_configure");
                    return;
                }
            }

            if (_pending is not null && _pending != _current)
            {
                if (_current is { IsDestroyed: false })
                {
                    WlBuffer.SendRelease(_current);
                }

                _current = _pending;
            }

            foreach (WaylandResource cb in _callbacks)
            {
                WlCallback.SendDone(cb, (uint)Environment.TickCount);
            }

            _callbacks.Clear();
            c._lastSurface = this;
        }

        public override string ToString() => resource.ToString();
    }

    private Surface? _lastSurface;

    private sealed class XdgState(WaylandResource surface)
    {
        public WaylandResource Surface { get; } = surface;

        public WaylandResource? Toplevel { get; set; }

        public bool Configured { get; set; }

        public bool Acked { get; set; }

        public uint Serial { get; set; }
    }

    private sealed class XdgRequests(MiniCompositor c) : XdgWmBase.IRequests, XdgSurface.IRequests, XdgToplevel.IRequests
    {
        void XdgWmBase.IRequests.Pong(WaylandResource self, uint serial) => c.Pongs++;

        void XdgWmBase.IRequests.GetXdgSurface(WaylandResource self, WaylandResource id, WaylandResource surface)
        {
            var state = new XdgState(id);
            ((Surface)surface.Data!).Xdg = state;
            id.Data = state;
            XdgSurface.Implement(id, this);
        }

        void XdgSurface.IRequests.GetToplevel(WaylandResource self, WaylandResource id)
        {
            ((XdgState)self.Data!).Toplevel = id;
            XdgToplevel.Implement(id, this);
        }

        void XdgSurface.IRequests.AckConfigure(WaylandResource self, uint serial)
        {
            var state = (XdgState)self.Data!;
            if (serial != state.Serial)
            {
                self.PostError((uint)XdgSurface.Error.InvalidSerial, $"ack_configure({serial}), the last configure was {state.Serial}");
                return;
            }

            state.Acked = true;
            c.Acks++;
        }

        void XdgToplevel.IRequests.SetTitle(WaylandResource self, string title)
        {
        }

        void XdgToplevel.IRequests.SetAppId(WaylandResource self, string appId)
        {
        }

        void XdgToplevel.IRequests.SetFullscreen(WaylandResource self, WaylandResource? output)
        {
        }
    }

    private sealed class ShmRequests : WlShm.IRequests, WlShmPool.IRequests
    {
        void WlShm.IRequests.CreatePool(WaylandResource self, WaylandResource id, SafeFileHandle fd, int size)
        {
            id.Data = fd;
            id.Client.Closed += _ => fd.Dispose();
            WlShmPool.Implement(id, this);
        }

        void WlShmPool.IRequests.CreateBuffer(WaylandResource self, WaylandResource id, int offset, int width, int height, int stride, uint format)
        {
            id.Data = new BufferData { Shm = (SafeFileHandle)self.Data!, Offset = offset, Width = width, Height = height, Stride = stride };
            WlBuffer.Implement(id, (BufferData)id.Data);
        }

        void WlShmPool.IRequests.Destroy(WaylandResource self) => self.Destroy(); // the fd stays for its buffers until the client goes
    }

    private sealed class DmaBufRequests(MiniCompositor c) : ZwpLinuxDmabufV1.IRequests
    {
        void ZwpLinuxDmabufV1.IRequests.CreateParams(WaylandResource self, WaylandResource paramsId)
        {
            var p = new Params(c);
            paramsId.Destroyed += _ => p.Dispose();
            ZwpLinuxBufferParamsV1.Implement(paramsId, p);
        }

        void ZwpLinuxDmabufV1.IRequests.GetDefaultFeedback(WaylandResource self, WaylandResource id)
        {
            ZwpLinuxDmabufFeedbackV1.Implement(id, new FeedbackRequests());
            c.SendFeedback(id);
        }
    }

    private sealed class FeedbackRequests : ZwpLinuxDmabufFeedbackV1.IRequests;

    private sealed class Params(MiniCompositor c) : ZwpLinuxBufferParamsV1.IRequests, IDisposable
    {
        private DmaBuf? _plane;
        private (uint Offset, uint Stride, ulong Modifier) _layout;

        public void Dispose() => _plane?.Dispose();

        void ZwpLinuxBufferParamsV1.IRequests.Add(WaylandResource self, SafeFileHandle fd, uint planeIdx, uint offset, uint stride, uint modifierHi, uint modifierLo)
        {
            DmaBuf plane;
            try
            {
                plane = WireFds.TakeDmaBuf(fd, $"{self}.add");
            }
            catch (InvalidDataException e)
            {
                self.PostError((uint)ZwpLinuxBufferParamsV1.Error.InvalidWlBuffer, e.Message);
                return;
            }

            if (planeIdx != 0 || _plane is not null)
            {
                plane.Dispose();
                self.PostError((uint)ZwpLinuxBufferParamsV1.Error.PlaneIdx, "this compositor takes one plane");
                return;
            }

            _plane = plane;
            _layout = (offset, stride, ((ulong)modifierHi << 32) | modifierLo);
            c.ModifiersAdded.Add(_layout.Modifier);
        }

        void ZwpLinuxBufferParamsV1.IRequests.CreateImmed(WaylandResource self, WaylandResource bufferId, int width, int height, uint format, uint flags)
        {
            if (_plane is null || !c._options.Table.Contains(new FormatModifier(format, _layout.Modifier)))
            {
                self.PostError((uint)ZwpLinuxBufferParamsV1.Error.InvalidFormat, $"format 0x{format:x} with modifier 0x{_layout.Modifier:x} is not in the table");
                return;
            }

            var data = new BufferData
            {
                DmaBuf = _plane,
                Handle = c._options.ImportCard?.ImportDmaBuf(_plane),
                Width = width,
                Height = height,
                Stride = (int)_layout.Stride,
            };
            _plane = null;
            if (data.Handle is not null)
            {
                c.BuffersImported++;
            }

            bufferId.Data = data;
            bufferId.Destroyed += _ => data.Dispose();
            WlBuffer.Implement(bufferId, data);
        }
    }

    private sealed class ScreencopyRequests(MiniCompositor c) : ZwlrScreencopyManagerV1.IRequests, ZwlrScreencopyFrameV1.IRequests
    {
        void ZwlrScreencopyManagerV1.IRequests.CaptureOutput(WaylandResource self, WaylandResource frame, int overlayCursor, WaylandResource output)
        {
            ZwlrScreencopyFrameV1.Implement(frame, this);
            ZwlrScreencopyFrameV1.SendBuffer(frame, (uint)WlShm.Format.Xbgr8888, (uint)c._options.Width, (uint)c._options.Height, (uint)c._options.Width * 4);
            ZwlrScreencopyFrameV1.SendBufferDone(frame);
        }

        void ZwlrScreencopyFrameV1.IRequests.Copy(WaylandResource self, WaylandResource buffer)
        {
            if (buffer.Data is not BufferData { Shm: not null } target || c._lastSurface?.Current?.Data is not BufferData source)
            {
                ZwlrScreencopyFrameV1.SendFailed(self);
                return;
            }

            for (int y = 0; y < source.Height; y++)
            {
                byte[] row = source.Row(y);
                for (int i = 0; i < row.Length; i += 4)
                {
                    (row[i], row[i + 2]) = (row[i + 2], row[i]); // XRGB8888 to XBGR8888
                }

                RandomAccess.Write(target.Shm, row, target.Offset + ((long)(source.Height - 1 - y) * target.Stride)); // bottom-up
            }

            ZwlrScreencopyFrameV1.SendFlags(self, (uint)ZwlrScreencopyFrameV1.Flags.YInvert);
            ZwlrScreencopyFrameV1.SendReady(self, 0, 0, 0);
        }
    }
}

/// <summary>What the <see cref="MiniCompositor"/> offers.</summary>
internal sealed record MiniCompositorOptions
{
    public int Width { get; init; } = 64;

    public int Height { get; init; } = 48;

    /// <summary>0: no linux-dmabuf; 3: modifier events from <see cref="Table"/>; 4: feedback.</summary>
    public uint DmaBufVersion { get; init; } = 4;

    public IReadOnlyList<FormatModifier> Table { get; init; } = [];

    public DrmDeviceNumber MainDevice { get; init; }

    /// <summary>Tranches in order of preference: target device, flags, indices into <see cref="Table"/>.</summary>
    public IReadOnlyList<(DrmDeviceNumber Device, uint Flags, ushort[] Indices)> Tranches { get; init; } = [];

    /// <summary>Imports each dma-buf here (FD_TO_HANDLE), as a compositor would; null: only checked and mapped.</summary>
    public DrmDevice? ImportCard { get; init; }
}
