using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// An open DRM file (<c>/dev/dri/cardN</c> or <c>/dev/dri/renderDN</c>), opened <c>O_RDWR|O_CLOEXEC</c>.
/// GEM handles are per open file description: this object owns the handle namespace of its file and keeps a
/// table so that each buffer object has one handle, shared and counted across every <see cref="GemHandle"/>
/// that refers to it. Do not hand this file's fd (or a <c>dup</c> of it, which shares the namespace) to another
/// library that imports or closes handles on its own: neither side could then know when a handle is really free.
/// </summary>
public sealed partial class DrmDevice : IDisposable
{
    private const uint DrmMajor = 226;

    private readonly SafeFileHandle _file;
    private readonly int _fd; // valid while _file has a reference: a lease, or any live GemHandle
    private readonly GemHandleTable _table = new();
    private DrmVersion? _version;

    private DrmDevice(SafeFileHandle file, string path, DrmNodeType nodeType)
    {
        _file = file;
        _fd = (int)file.DangerousGetHandle();
        Path = path;
        NodeType = nodeType;
    }

    /// <summary>The path this device was opened from.</summary>
    public string Path { get; }

    /// <summary>Whether this is a primary or a render node.</summary>
    public DrmNodeType NodeType { get; }

    /// <summary>The open file. Exposed for interop with other native code; do not close it yourself.</summary>
    public SafeHandle FileHandle => _file;

    /// <summary>The driver's name and version (<c>DRM_IOCTL_VERSION</c>), read once.</summary>
    public DrmVersion Version
    {
        get
        {
            if (_version is null)
            {
                using var lease = Lease();
                ThrowHelper.ThrowIfError(Drm.GetVersion(_fd, out var v), "DRM_IOCTL_VERSION", Path);
                _version = v;
            }

            return _version!;
        }
    }

    /// <summary>The driver's PRIME import/export support (<c>DRM_CAP_PRIME</c>).</summary>
    public PrimeCapabilities PrimeCapabilities =>
        TryGetCapability(DrmCapability.Prime, out ulong v) ? (PrimeCapabilities)(v & 3) : PrimeCapabilities.None;

    /// <summary>How many distinct buffer objects this file currently holds handles for (through this library).</summary>
    public int OpenObjectCount => _table.Count;

    /// <summary>Opens a DRM node by path.</summary>
    /// <exception cref="DrmException">The node cannot be opened, or is not a DRM device.</exception>
    public static DrmDevice Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int errno = Libc.Open(path, Libc.O_RDWR | Libc.O_CLOEXEC, out int fd);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, "open", path, hint: OpenHint(errno));
        }

        var file = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            ThrowHelper.ThrowIfError(Libc.Stat(fd, out _, out _, out ulong rdev, out uint mode), "fstat", path, fd: fd);
            uint major = (uint)(((rdev >> 32) & 0xfffff000) | ((rdev >> 8) & 0xfff));
            uint minor = (uint)(((rdev >> 12) & 0xffffff00) | (rdev & 0xff));
            const uint S_IFMT = 0xF000, S_IFCHR = 0x2000;
            if ((mode & S_IFMT) != S_IFCHR || major != DrmMajor)
            {
                throw new ArgumentException($"{path} is not a DRM device node (char major {DrmMajor}).", nameof(path));
            }

            // Render minors are 128-191, primary minors 0-63 (drm_minor_alloc).
            return new DrmDevice(file, path, minor >= 128 ? DrmNodeType.Render : DrmNodeType.Primary);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Opens the node of a device found by <see cref="DrmNode.Enumerate"/>.</summary>
    public static DrmDevice Open(DrmNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Open(node.Path);
    }

    /// <summary>
    /// Opens the first device whose driver is <paramref name="driverName"/> (as <c>DRM_IOCTL_VERSION</c> names it),
    /// or, when it is null, the first device that can both import and export dma-bufs; on a node of the
    /// <paramref name="preferred"/> type when the device has one, else on its other node.
    /// </summary>
    /// <exception cref="DrmException">No such device (ENODEV).</exception>
    public static DrmDevice OpenByDriver(string? driverName, DrmNodeType preferred = DrmNodeType.Render)
    {
        const PrimeCapabilities both = PrimeCapabilities.Import | PrimeCapabilities.Export;
        var match = DrmNode.Enumerate()
            .Where(n => driverName is null ? (n.PrimeCapabilities & both) == both : n.DriverName == driverName)
            .GroupBy(n => n.DeviceKey)
            .Select(g => g.OrderBy(n => n.Type == preferred ? 0 : 1).First())
            .FirstOrDefault();
        if (match is null)
        {
            ThrowHelper.Throw(Errno.ENODEV, "open", driverName is null ? "any DRM device" : $"a {driverName} device", hint: driverName is null
                ? "no DRM node that can import and export dma-bufs; load a driver (sudo modprobe vgem)"
                : $"no DRM node with driver '{driverName}'; is the driver loaded (sudo modprobe {driverName})?");
        }

        return Open(match.Path);
    }

    /// <summary>Reads a capability; throws when the kernel rejects the query.</summary>
    public ulong GetCapability(DrmCapability capability)
    {
        using var lease = Lease();
        ThrowHelper.ThrowIfError(Drm.GetCap(_fd, (ulong)capability, out ulong value), $"DRM_IOCTL_GET_CAP({capability})", Path);
        return value;
    }

    /// <summary>Reads a capability; false when the kernel does not know it.</summary>
    public bool TryGetCapability(DrmCapability capability, out ulong value)
    {
        using var lease = Lease();
        return Drm.GetCap(_fd, (ulong)capability, out value) == 0;
    }

    /// <summary>
    /// Creates a dumb buffer (<c>DRM_IOCTL_MODE_CREATE_DUMB</c>). Needs a primary node: the kernel refuses
    /// render nodes with EACCES.
    /// </summary>
    public DumbBuffer CreateDumbBuffer(uint width, uint height, uint bitsPerPixel)
    {
        ArgumentOutOfRangeException.ThrowIfZero(width);
        ArgumentOutOfRangeException.ThrowIfZero(height);
        ArgumentOutOfRangeException.ThrowIfZero(bitsPerPixel);
        ulong pitch = (width * (ulong)bitsPerPixel + 7) / 8;
        if (pitch * height > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(height),
                $"A {width}x{height} dumb buffer at {bitsPerPixel} bpp needs {pitch * height} bytes; the kernel's limit is {uint.MaxValue}.");
        }

        var arg = new DrmModeDumb.drm_mode_create_dumb { width = width, height = height, bpp = bitsPerPixel };
        HoldFileForHandle();
        int errno = _table.CreateDumb(_fd, ref arg);
        if (errno != 0)
        {
            _file.DangerousRelease();
            ThrowHelper.Throw(errno, "DRM_IOCTL_MODE_CREATE_DUMB", Path, hint:
                errno == Errno.EACCES && NodeType == DrmNodeType.Render
                    ? "Dumb buffers need the primary node (/dev/dri/cardN) of this device, not a render node"
                    : null);
        }

        return new DumbBuffer(new GemHandle(this, arg.handle), width, height, bitsPerPixel, arg.pitch, arg.size);
    }

    /// <summary>
    /// Imports a dma-buf (<c>DRM_IOCTL_PRIME_FD_TO_HANDLE</c>). If this file already has a handle for the
    /// underlying object (imported before, or exported from here: self-import), the result refers to that same
    /// object and its reference count goes up; the handle is closed once, after the last reference is disposed.
    /// The fd is not consumed: the caller still owns and must dispose it.
    /// </summary>
    /// <param name="dmaBuf">A <see cref="DmaBuf"/>, or any SafeHandle over a dma-buf fd.</param>
    public GemHandle ImportDmaBuf(SafeHandle dmaBuf)
    {
        ArgumentNullException.ThrowIfNull(dmaBuf);
        using var lease = new HandleLease(dmaBuf);
        HoldFileForHandle();
        int errno = _table.Import(_fd, lease.Fd, out uint h);
        if (errno != 0)
        {
            _file.DangerousRelease();
            ThrowImportError(errno, lease.Fd);
        }

        return new GemHandle(this, h);
    }

    /// <summary>
    /// Imports every plane of <paramref name="description"/>. Planes that share a buffer object share its handle.
    /// On failure, the planes imported so far are released again.
    /// </summary>
    public ImportedBuffer ImportBuffer(DmaBufDescription description)
    {
        ArgumentNullException.ThrowIfNull(description);
        var handles = new List<GemHandle>(description.Planes.Count);
        try
        {
            foreach (DmaBufPlane plane in description.Planes)
            {
                handles.Add(ImportDmaBuf(plane.Buffer));
            }

            return new ImportedBuffer(this, description, [.. handles]);
        }
        catch
        {
            handles.ForEach(h => h.Dispose());
            throw;
        }
    }

    /// <summary>
    /// Makes a framebuffer from an imported buffer (<c>DRM_IOCTL_MODE_ADDFB2</c>, with <c>DRM_MODE_FB_MODIFIERS</c>
    /// unless the modifier is <see cref="DmaBufDescription.InvalidModifier"/>). Needs a KMS driver's primary node.
    /// </summary>
    public Framebuffer AddFramebuffer(ImportedBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (!ReferenceEquals(buffer.Device, this))
        {
            throw new ArgumentException($"The buffer was imported into {buffer.Device.Path}, not {Path}; import it here first.", nameof(buffer));
        }

        var cmd = new DrmModeFb.drm_mode_fb_cmd2
        {
            width = buffer.Width,
            height = buffer.Height,
            pixel_format = buffer.Format.Value,
            flags = buffer.Modifier == DmaBufDescription.InvalidModifier ? 0 : DrmModeFb.DRM_MODE_FB_MODIFIERS,
        };
        var refs = new List<GemHandle>(buffer.Handles.Count);
        int held = 0;
        try
        {
            // Hold the buffer's handles (ObjectDisposedException if it was disposed) while taking our own references.
            for (; held < buffer.Handles.Count; held++)
            {
                bool added = false;
                buffer.Handles[held].DangerousAddRef(ref added);
            }

            for (int i = 0; i < buffer.Handles.Count; i++)
            {
                refs.Add(Adopt(buffer.Handles[i].Value)); // the framebuffer's own reference
                unsafe
                {
                    cmd.handles[i] = buffer.Handles[i].Value;
                    cmd.pitches[i] = buffer.Strides[i];
                    cmd.offsets[i] = buffer.Offsets[i];
                    cmd.modifier[i] = cmd.flags != 0 ? buffer.Modifier : 0;
                }
            }

            int errno = DrmModeFb.AddFB2(_fd, ref cmd);
            ThrowHelper.ThrowIfError(errno, "DRM_IOCTL_MODE_ADDFB2", Path, gemHandle: buffer.Handles[0].Value, hint: errno switch
            {
                Errno.EOPNOTSUPP or Errno.EINVAL when NodeType == DrmNodeType.Render => "framebuffers need a KMS driver's primary node",
                Errno.EINVAL => $"the driver refused {buffer.Width}x{buffer.Height} {buffer.Format} with these pitches/offsets/modifier",
                _ => null,
            });
            return new Framebuffer(this, cmd.fb_id, [.. refs]);
        }
        catch
        {
            refs.ForEach(h => h.Dispose());
            throw;
        }
        finally
        {
            for (int i = 0; i < held; i++)
            {
                buffer.Handles[i].DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Takes a handle this file got from elsewhere (a driver-specific create ioctl issued on <see cref="FileHandle"/>)
    /// into the table, so it is shared and closed like any other. If the table already has it, this is one more
    /// reference. The kernel is not asked whether the handle exists; a wrong one fails at its first use (ENOENT).
    /// </summary>
    public GemHandle AdoptHandle(uint handle)
    {
        ArgumentOutOfRangeException.ThrowIfZero(handle);
        return Adopt(handle);
    }

    /// <summary>
    /// Exports a buffer object as a dma-buf (<c>DRM_IOCTL_PRIME_HANDLE_TO_FD</c>); the fd is always close-on-exec.
    /// The dma-buf keeps the buffer object alive after every handle to it is closed.
    /// </summary>
    public DmaBuf ExportDmaBuf(GemHandle handle, DmaBufExportFlags flags = DmaBufExportFlags.None)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!ReferenceEquals(handle.Device, this))
        {
            throw new ArgumentException($"{handle} belongs to another open DRM file, not {Path}; handles are per open file.", nameof(handle));
        }

        if ((flags & ~DmaBufExportFlags.ReadWrite) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(flags), flags,
                "Only DmaBufExportFlags.ReadWrite may be given; close-on-exec is always set.");
        }

        // Holding the handle keeps it from being closed under the ioctl, and keeps this file open even after
        // the device was disposed.
        using var held = new HandleLease(handle);
        int errno = DrmPrime.HandleToFd(_fd, handle.Value, DrmPrime.DRM_CLOEXEC | (uint)flags, out int fd);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, "DRM_IOCTL_PRIME_HANDLE_TO_FD", Path, gemHandle: handle.Value);
        }

        return new DmaBuf(fd, ownsHandle: true);
    }

    /// <summary>
    /// Closes this device's fd once no <see cref="GemHandle"/> needs it any more; handles still alive keep
    /// the file open and stay usable.
    /// </summary>
    public void Dispose() => _file.Dispose();

    /// <inheritdoc/>
    public override string ToString() => _version is null ? Path : $"{Path} ({_version})";

    internal int ReferenceCountOf(uint handle) => _table.ReferencesOf(handle);

    /// <summary>Raw fd of this file for handle-backed operations; the caller holds a GemHandle reference.</summary>
    internal int RawFd => _fd;

    /// <summary>A reference on the file for one device-level operation; ObjectDisposedException once disposed.</summary>
    private HandleLease Lease()
    {
        try
        {
            return new HandleLease(_file);
        }
        catch (ObjectDisposedException)
        {
            throw new ObjectDisposedException(nameof(DrmDevice), $"The DRM device {Path} has been disposed.");
        }
    }

    /// <summary>
    /// Takes the reference on the file that a new handle reference will hold (dropped in <see cref="Release"/>);
    /// ObjectDisposedException once the device is disposed. Taken before the table counts the handle, so that a
    /// failure in between leaves nothing to undo but this reference.
    /// </summary>
    private void HoldFileForHandle() => _ = Lease();

    /// <summary>One more reference on a handle this file holds (the table's rules: see <see cref="GemHandleTable"/>).</summary>
    private GemHandle Adopt(uint handle)
    {
        HoldFileForHandle();
        _table.Adopt(handle);
        return new GemHandle(this, handle);
    }

    /// <summary>Drops one reference; the last closes the kernel handle. Called from GemHandle.ReleaseHandle.</summary>
    internal bool Release(uint handle)
    {
        int errno;
        try
        {
            errno = _table.Release(_fd, handle);
        }
        finally
        {
            _file.DangerousRelease();
        }

        return errno == 0;
    }

    private void ThrowImportError(int errno, int fd) =>
        ThrowHelper.Throw(errno, "DRM_IOCTL_PRIME_FD_TO_HANDLE", Path, fd: fd, hint:
            errno == Errno.EINVAL && !DmaBuf.IsDmaBuf(fd) ? $"fd {fd} is not a dma-buf" : null);

    private static string? OpenHint(int errno) => errno switch
    {
        Errno.EACCES or Errno.EPERM => "add your user to the 'render' group (render nodes) or 'video' group (card nodes), or run the tests in the rig",
        Errno.ENOENT => "no such node; is a DRM driver loaded (sudo modprobe vgem)?",
        _ => null,
    };
}
