using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// An open DRM file (<c>/dev/dri/cardN</c> or <c>/dev/dri/renderDN</c>), opened <c>O_RDWR|O_CLOEXEC</c>.
/// GEM handles are per open file description: this object owns the handle namespace of its file and keeps a
/// table so that each buffer object has one handle, shared and counted across every <see cref="GemHandle"/>
/// that refers to it. Do not hand this file's fd (or a <c>dup</c> of it, which shares the namespace) to another
/// library that imports or closes handles on its own: neither side could then know when a handle is really free.
/// </summary>
public sealed partial class DrmDevice : IDisposable, IHoldable
{
    private readonly DeviceFile _file;
    private readonly int _fd; // valid while this device has a holder
    private readonly GemHandleTable _table;
    private DrmVersion? _version;
    private HolderCount _holders; // of the file: this device itself, each call's lease, the handle table while it holds a handle

    /// <summary>What each released GemHandle of this device points to (see GemHandle's Guard).</summary>
    internal GemHandle.Guard ReleasedGuard { get; }

    private DrmDevice(DeviceFile file, string path, DrmNodeType nodeType)
    {
        _file = file;
        _fd = (int)file.DangerousGetHandle();
        _table = new GemHandleTable(this);
        ReleasedGuard = GemHandle.Guard.Released(this);
        Path = path;
        NodeType = nodeType;
    }

    /// <summary>The path this device was opened from.</summary>
    public string Path { get; }

    /// <summary>Whether this is a primary or a render node.</summary>
    public DrmNodeType NodeType { get; }

    /// <summary>
    /// The open file, for interop with other native code (a driver-specific ioctl): pass the handle itself to a
    /// P/Invoke, which holds it for the call, rather than its number. It stays this device's: disposing or closing it
    /// does nothing, and the file is closed when the device and every handle that needs the file are disposed.
    /// </summary>
    public SafeHandle FileHandle => _file;

    /// <summary>The driver's name and version (<c>DRM_IOCTL_VERSION</c>), read once.</summary>
    public DrmVersion Version
    {
        get
        {
            using var lease = DeviceLease();
            if (_version is null)
            {
                ThrowHelper.ThrowIfError(Drm.GetVersion(_fd, out var v), nameof(Drm.DRM_IOCTL_VERSION), Path);
                _version = v;
            }

            return _version!;
        }
    }

    /// <summary>The driver's PRIME import/export support (<c>DRM_CAP_PRIME</c>).</summary>
    public PrimeCapabilities PrimeCapabilities =>
        TryGetCapability(DrmCapability.Prime, out ulong v) ? (PrimeCapabilities)v & (PrimeCapabilities.Import | PrimeCapabilities.Export) : PrimeCapabilities.None;

    /// <summary>
    /// How many distinct buffer objects this file currently holds handles for (through this library). Internal: the
    /// tests' and the soak's leak checks read it; a caller's own accounting is the GemHandles it has not disposed.
    /// </summary>
    internal int OpenObjectCount => _table.Count;

    /// <summary>
    /// Opens a DRM node by path. The path is checked with <c>stat</c> to be a character device of the DRM major
    /// (226) before it is opened, and opened <c>O_NONBLOCK</c> (cleared again after the check), so a FIFO, a tty or
    /// another device is refused without being opened and nothing can block here.
    /// </summary>
    /// <exception cref="DrmException">
    /// The node cannot be stat'ed or opened: <see cref="DrmException.IsNotFound"/> when it does not exist (or its
    /// device is gone), <see cref="DrmException.IsPermissionDenied"/> when the caller may not open it.
    /// </exception>
    /// <exception cref="ArgumentException">The path is empty, or names something other than a DRM device node.</exception>
    public static DrmDevice Open(string path)
    {
        Abi.ThrowIfUnsupported();
        ArgumentException.ThrowIfNullOrEmpty(path);
        int errno = Libc.StatPath(path, out ulong rdev, out uint mode);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, Libc.Operation.Stat, path, hint: OpenHint(errno));
        }

        DrmNodeType type = NodeTypeOf(path, mode, rdev);
        var file = new DeviceFile(); // before the open, so that nothing can fail between the kernel making the fd and its owner
        errno = Libc.Open(path, Libc.O_RDWR | Libc.O_CLOEXEC | Libc.O_NONBLOCK | Libc.O_NOCTTY, out int fd);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, Libc.Operation.Open, path, hint: OpenHint(errno));
        }

        file.Own(fd);
        try
        {
            // The path may have been replaced between stat and open: check what was opened, then make it blocking
            // again, as libdrm's drmOpen leaves it.
            ThrowHelper.ThrowIfError(Libc.Stat(fd, out _, out _, out rdev, out mode), Libc.Operation.FStat, path, fd: fd);
            type = NodeTypeOf(path, mode, rdev);
            ThrowHelper.ThrowIfError(Libc.SetNonBlocking(fd, false), Libc.Operation.SetFlags, path, fd: fd);
            return new DrmDevice(file, path, type);
        }
        catch
        {
            file.CloseByOwner();
            throw;
        }
    }

    /// <summary>Opens the node of a device found by <see cref="DrmNode.Enumerate(string)"/>.</summary>
    /// <exception cref="DrmException">The node cannot be opened; see <see cref="Open(string)"/>.</exception>
    /// <exception cref="ArgumentException">The node's path is not a DRM device node (any more).</exception>
    public static DrmDevice Open(DrmNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Open(node.Path);
    }

    /// <summary>
    /// Opens the first device whose driver is <paramref name="driverName"/>, or, when it is null, the first device
    /// that can both import and export dma-bufs; on a node of the <paramref name="preferred"/> type when the device
    /// has one, else on its other node. Devices are found in sysfs (<see cref="DrmNode.Enumerate(string)"/>), and only the
    /// node returned is opened; primary nodes are never opened to probe them, since opening one can make this
    /// process DRM master. Where sysfs does not tell (the null driver, or a driver whose kernel name differs from
    /// its DRM name), render nodes, which carry no master, are asked with <c>DRM_IOCTL_VERSION</c>/<c>GET_CAP</c>.
    /// </summary>
    /// <exception cref="DrmException">
    /// No such device (ENODEV, <see cref="DrmException.IsNotFound"/>), or the node found cannot be opened
    /// (see <see cref="Open(string)"/>).
    /// </exception>
    public static DrmDevice OpenByDriver(string? driverName, DrmNodeType preferred = DrmNodeType.Render)
    {
        IReadOnlyList<DrmNode> nodes = DrmNode.Enumerate();
        DrmNode? match = driverName is null ? null : Pick(nodes, nodes.FirstOrDefault(n => n.DriverName == driverName), preferred);
        if (match is null)
        {
            const PrimeCapabilities both = PrimeCapabilities.Import | PrimeCapabilities.Export;
            foreach (DrmNode render in nodes.Where(n => n.Type == DrmNodeType.Render))
            {
                DrmNode probed = render.Probe();
                if (driverName is null ? (probed.PrimeCapabilities & both) == both : probed.Version?.Name == driverName)
                {
                    match = Pick(nodes, render, preferred);
                    break;
                }
            }
        }

        if (match is null)
        {
            ThrowHelper.Throw(Errno.ENODEV, Libc.Operation.Open, driverName is null ? "any DRM device" : $"a {driverName} device", hint: driverName is null
                ? "no DRM node that can import and export dma-bufs; load a driver (sudo modprobe vgem)"
                : $"no DRM node with driver '{driverName}'; is the driver loaded (sudo modprobe {driverName})?");
        }

        return Open(match.Path);
    }

    /// <summary>Reads a capability; throws when the kernel rejects the query.</summary>
    public ulong GetCapability(DrmCapability capability)
    {
        using var lease = DeviceLease();
        ThrowHelper.ThrowIfError(Drm.GetCap(_fd, (ulong)capability, out ulong value), $"{nameof(Drm.DRM_IOCTL_GET_CAP)}({capability})", Path);
        return value;
    }

    /// <summary>Reads a capability; false when the kernel does not know it.</summary>
    public bool TryGetCapability(DrmCapability capability, out ulong value)
    {
        using var lease = DeviceLease();
        return Drm.GetCap(_fd, (ulong)capability, out value) == 0;
    }

    /// <summary>
    /// Stops the device: every later device operation (<see cref="CreateDumbBuffer"/>, <see cref="ImportDmaBuf"/>,
    /// <see cref="GetCapability"/>, <see cref="Version"/>, …) throws ObjectDisposedException, and pending
    /// <see cref="ReadEventAsync(TimeSpan, CancellationToken)"/> waits end with it. The fd is closed once
    /// no <see cref="GemHandle"/> needs it any more; handles still alive keep the file open and stay usable
    /// (export, map, dispose).
    /// </summary>
    public void Dispose()
    {
        if (_holders.Dispose())
        {
            _file.CloseByOwner(); // no call and no handle holds the file
        }

        _file.EndWaits(); // a pending event wait ends now, not when the last handle lets the file go
    }

    /// <inheritdoc/>
    public override string ToString() => _version is null ? Path : $"{Path} ({_version})";

    internal int ReferenceCountOf(uint handle) => _table.ReferencesOf(handle);

    /// <summary>Raw fd of this file for handle-backed operations; the caller holds a GemHandle reference or a <see cref="DeviceLease"/>.</summary>
    internal int RawFd => _fd;

    /// <summary>This file's handle table, for the creating calls (dumb buffers) that live beside their types.</summary>
    internal GemHandleTable Table => _table;

    /// <summary>A lease on the file for one device operation; ObjectDisposedException once the device is disposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // the lane's per-frame import: one compare-exchange, no call
    internal Lease<DrmDevice> DeviceLease() => new(this);

    ref HolderCount IHoldable.Holders => ref _holders;

    /// <summary>The last hold on the file ended after Dispose: the file is closed.</summary>
    void IHoldable.Release() => _file.CloseByOwner();

    [DoesNotReturn]
    void IHoldable.ThrowDisposed() => ThrowDisposed();
    [DoesNotReturn]
    private void ThrowDisposed() => throw new ObjectDisposedException(nameof(DrmDevice), $"The DRM device {Path} has been disposed.");

    private static DrmNodeType NodeTypeOf(string path, uint mode, ulong rdev)
    {
        if (!Libc.IsCharacterDevice(mode) || Libc.Major(rdev) != Drm.DRM_MAJOR)
        {
            throw new ArgumentException($"{path} is not a DRM device node (char major {Drm.DRM_MAJOR}).", nameof(path));
        }

        return Libc.Minor(rdev) >= Drm.RenderMinorBase ? DrmNodeType.Render : DrmNodeType.Primary;
    }

    /// <summary>The node of <paramref name="node"/>'s device of the preferred type, else <paramref name="node"/>.</summary>
    private static DrmNode? Pick(IReadOnlyList<DrmNode> nodes, DrmNode? node, DrmNodeType preferred) =>
        node is null ? null : nodes.FirstOrDefault(n => n.DeviceKey == node.DeviceKey && n.Type == preferred) ?? node;

    private static string? OpenHint(int errno) => errno switch
    {
        Errno.EACCES or Errno.EPERM => "the user needs to be in the 'render' group (render nodes) or the 'video' group (card nodes), or root",
        Errno.ENOENT => "no such node; is a DRM driver loaded (sudo modprobe vgem)?",
        _ => null,
    };

    /// <summary>
    /// The device's file, as <see cref="FileHandle"/> hands it out: only the device closes it. A caller's Dispose or
    /// Close is ignored, because the device goes on using the fd number (its calls hold the device, not this
    /// SafeHandle): a file closed under it would let the next open reuse the number, and this device would then import
    /// into, and close handles of, another device's file. The finalizer closes it as any SafeHandle's does.
    /// </summary>
    private sealed class DeviceFile : FileDescriptorHandle
    {
        private volatile bool _ownerCloses;

        public DeviceFile()
            : base(fd: -1, ownsHandle: true)
        {
        }

        /// <summary>The device's own close (once a lease on the handle itself ends, as for any SafeHandle).</summary>
        public void CloseByOwner()
        {
            _ownerCloses = true;
            Dispose();
        }

        /// <summary>Ends the pending waits for this file's events (ObjectDisposedException) and its registrations.</summary>
        public void EndWaits() => CloseWaiters();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_ownerCloses)
            {
                return; // someone else's Dispose or Close: the device still uses this fd
            }

            base.Dispose(disposing);
        }

        public override string ToString() => IsClosed ? "DRM device file (closed)" : $"DRM device file fd {(int)handle}";
    }

}
