using System.Globalization;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// KMS: the device's CRTCs, connectors, encoders and planes, their properties, property blobs and atomic commits.
/// Needs a KMS driver's primary node; a driver without modesetting (vgem) answers EOPNOTSUPP. Atomic-only
/// properties and commits need <see cref="SetClientCapability"/> with <see cref="DrmClientCapability.Atomic"/> first.
/// </summary>
public sealed partial class DrmDevice
{
    /// <summary>
    /// Makes a framebuffer from an imported buffer (<c>DRM_IOCTL_MODE_ADDFB2</c>, with <c>DRM_MODE_FB_MODIFIERS</c>
    /// unless the modifier is <see cref="DmaBufDescription.InvalidModifier"/>). Needs a KMS driver's primary node.
    /// </summary>
    public Framebuffer AddFramebuffer(ImportedBuffer buffer) => Framebuffer.Add(this, buffer);

    private readonly Lock _propertyGate = new();
    private readonly Dictionary<uint, DrmProperty> _propertyCache = [];
    private volatile bool _atomic; // DrmClientCapability.Atomic was set: for the hint of a refused commit

    /// <summary>
    /// Tells the kernel this file understands <paramref name="capability"/> (<c>DRM_IOCTL_SET_CLIENT_CAP</c>); 1
    /// turns it on, 0 off.
    /// </summary>
    /// <exception cref="DrmException">
    /// The kernel refused: EOPNOTSUPP when the driver has no modesetting (or no atomic modesetting, for
    /// <see cref="DrmClientCapability.Atomic"/>), EINVAL for a value it does not take or, for
    /// <see cref="DrmClientCapability.WritebackConnectors"/>, when <see cref="DrmClientCapability.Atomic"/> is not on.
    /// </exception>
    public void SetClientCapability(DrmClientCapability capability, ulong value = 1)
    {
        using var lease = DeviceLease();
        int errno = Drm.SetClientCap(_fd, (ulong)capability, value);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, $"{nameof(Drm.DRM_IOCTL_SET_CLIENT_CAP)}({capability})", Path, hint: errno switch
            {
                Errno.EOPNOTSUPP when capability == DrmClientCapability.Atomic => "the driver has no atomic modesetting (or no modesetting at all)",
                Errno.EOPNOTSUPP => "the driver has no modesetting (a render-only driver such as vgem)",
                Errno.EINVAL when capability == DrmClientCapability.WritebackConnectors => "turn on DrmClientCapability.Atomic first",
                _ => null,
            });
        }

        if (capability == DrmClientCapability.Atomic)
        {
            _atomic = value != 0;
        }
    }

    /// <summary>The device's CRTCs, connectors and encoders, and this file's framebuffers (<c>DRM_IOCTL_MODE_GETRESOURCES</c>).</summary>
    public DrmResources GetResources()
    {
        using var lease = DeviceLease();
        int errno = DrmMode.GetResources(_fd, out var res, out uint[] fbs, out uint[] crtcs, out uint[] connectors, out uint[] encoders);
        ThrowIfKmsError(errno, nameof(DrmMode.DRM_IOCTL_MODE_GETRESOURCES), Path);
        return new DrmResources(fbs, crtcs, connectors, encoders, res.min_width, res.max_width, res.min_height, res.max_height);
    }

    /// <summary>
    /// A connector, its status and modes (<c>DRM_IOCTL_MODE_GETCONNECTOR</c>). On the master file this probes the
    /// connector first (as libdrm's <c>drmModeGetConnector</c>); other files see what the last probe found.
    /// </summary>
    public DrmConnector GetConnector(uint connectorId)
    {
        using var lease = DeviceLease();
        int errno = DrmMode.GetConnector(_fd, connectorId, out var c, out var modes, out uint[] encoders);
        ThrowIfKmsError(errno, nameof(DrmMode.DRM_IOCTL_MODE_GETCONNECTOR), Describe(DrmObjectType.Connector, connectorId));
        return new DrmConnector(c.connector_id, (DrmConnectorType)c.connector_type, c.connector_type_id, (DrmConnectionStatus)c.connection,
            c.encoder_id, [.. modes.Select(m => new DrmModeInfo(m))], encoders, c.mm_width, c.mm_height, c.subpixel);
    }

    /// <summary>An encoder (<c>DRM_IOCTL_MODE_GETENCODER</c>).</summary>
    public DrmEncoder GetEncoder(uint encoderId)
    {
        using var lease = DeviceLease();
        int errno = DrmMode.GetEncoder(_fd, encoderId, out var e);
        ThrowIfKmsError(errno, nameof(DrmMode.DRM_IOCTL_MODE_GETENCODER), Describe(DrmObjectType.Encoder, encoderId));
        return new DrmEncoder(e.encoder_id, e.encoder_type, e.crtc_id, e.possible_crtcs, e.possible_clones);
    }

    /// <summary>A CRTC, its index and current mode (<c>DRM_IOCTL_MODE_GETCRTC</c>, and GETRESOURCES for the index).</summary>
    public DrmCrtc GetCrtc(uint crtcId)
    {
        using var lease = DeviceLease();
        int errno = DrmMode.GetCrtc(_fd, crtcId, out var c);
        ThrowIfKmsError(errno, nameof(DrmMode.DRM_IOCTL_MODE_GETCRTC), Describe(DrmObjectType.Crtc, crtcId));
        int index = Array.IndexOf(GetResources().Crtcs.ToArray(), crtcId);
        return new DrmCrtc(c.crtc_id, index, c.fb_id, c.x, c.y, c.gamma_size, c.mode_valid != 0 ? new DrmModeInfo(c.mode) : null);
    }

    /// <summary>
    /// Every plane (<c>DRM_IOCTL_MODE_GETPLANERESOURCES</c>, then <see cref="GetPlane"/> for each). Primary and cursor
    /// planes are listed only with <see cref="DrmClientCapability.UniversalPlanes"/> (or Atomic).
    /// </summary>
    public IReadOnlyList<DrmPlane> GetPlanes()
    {
        uint[] ids;
        using (var lease = DeviceLease())
        {
            ThrowIfKmsError(DrmMode.GetPlaneResources(_fd, out ids), nameof(DrmMode.DRM_IOCTL_MODE_GETPLANERESOURCES), Path);
        }

        return Array.AsReadOnly(ids.Select(GetPlane).ToArray());
    }

    /// <summary>A plane, its formats and its type (<c>DRM_IOCTL_MODE_GETPLANE</c>, and its <c>type</c> property).</summary>
    public DrmPlane GetPlane(uint planeId)
    {
        DrmMode.drm_mode_get_plane p;
        uint[] formats;
        using (var lease = DeviceLease())
        {
            ThrowIfKmsError(DrmMode.GetPlane(_fd, planeId, out p, out formats), nameof(DrmMode.DRM_IOCTL_MODE_GETPLANE), Describe(DrmObjectType.Plane, planeId));
        }

        DrmObjectProperties properties = GetProperties(planeId, DrmObjectType.Plane);
        var type = properties.TryGetProperty("type", out _) ? (DrmPlaneType)properties.GetValue("type") : DrmPlaneType.Overlay;
        return new DrmPlane(p.plane_id, type, p.crtc_id, p.fb_id, p.possible_crtcs, p.gamma_size, [.. formats.Select(f => new DrmFourcc(f))]);
    }

    /// <summary>
    /// An object's properties and their current values (<c>DRM_IOCTL_MODE_OBJ_GETPROPERTIES</c>), found by name.
    /// Each property's description is read once per device and kept.
    /// </summary>
    /// <param name="objectId">A CRTC, connector, plane (or other object) id.</param>
    /// <param name="type">The object's type, checked by the kernel (ENOENT if it is another); <see cref="DrmObjectType.Any"/> for no check.</param>
    public DrmObjectProperties GetProperties(uint objectId, DrmObjectType type = DrmObjectType.Any)
    {
        uint[] ids;
        ulong[] values;
        using (var lease = DeviceLease())
        {
            int errno = DrmModeProperty.GetObjectProperties(_fd, objectId, (uint)type, out ids, out values);
            ThrowIfKmsError(errno, nameof(DrmModeProperty.DRM_IOCTL_MODE_OBJ_GETPROPERTIES), Describe(type, objectId),
                errno == Errno.EINVAL ? "this kind of object has no properties" : null);
        }

        var result = new DrmPropertyValue[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            result[i] = new DrmPropertyValue(GetProperty(ids[i]), values[i]);
        }

        return new DrmObjectProperties(objectId, type, result);
    }

    /// <summary>A property's description (<c>DRM_IOCTL_MODE_GETPROPERTY</c>), read once per device and kept.</summary>
    public DrmProperty GetProperty(uint propertyId)
    {
        lock (_propertyGate)
        {
            if (_propertyCache.TryGetValue(propertyId, out DrmProperty? known))
            {
                return known;
            }
        }

        using var lease = DeviceLease();
        int errno = DrmModeProperty.GetProperty(_fd, propertyId, out string name, out uint flags, out ulong[] values, out var enums);
        ThrowIfKmsError(errno, nameof(DrmModeProperty.DRM_IOCTL_MODE_GETPROPERTY), Describe(DrmObjectType.Property, propertyId));
        var property = new DrmProperty(propertyId, name, flags, values, enums);
        lock (_propertyGate)
        {
            return _propertyCache.TryAdd(propertyId, property) ? property : _propertyCache[propertyId];
        }
    }

    /// <summary>A property blob made from <paramref name="data"/> (<c>DRM_IOCTL_MODE_CREATEPROPBLOB</c>), owned by this file.</summary>
    public DrmPropertyBlob CreatePropertyBlob(ReadOnlySpan<byte> data) => DrmPropertyBlob.Create(this, data);

    /// <summary>A blob of a mode, for a CRTC's <c>MODE_ID</c>.</summary>
    public DrmPropertyBlob CreatePropertyBlob(in DrmModeInfo mode) => DrmPropertyBlob.Create(this, mode.AsBytes());

    /// <summary>The data of a blob (<c>DRM_IOCTL_MODE_GETPROPBLOB</c>): a plane's <c>IN_FORMATS</c>, a connector's <c>EDID</c>, a mode.</summary>
    public byte[] GetPropertyBlob(uint blobId)
    {
        using var lease = DeviceLease();
        ThrowIfKmsError(DrmModeProperty.GetBlob(_fd, blobId, out byte[] data), nameof(DrmModeProperty.DRM_IOCTL_MODE_GETPROPBLOB), Describe(DrmObjectType.Blob, blobId));
        return data;
    }

    /// <summary>
    /// Makes a framebuffer of a dumb buffer of this device (<c>DRM_IOCTL_MODE_ADDFB2</c>: one plane, its pitch, no
    /// modifier): a buffer to scan out, or a writeback target.
    /// </summary>
    public Framebuffer AddFramebuffer(DumbBuffer buffer, DrmFourcc format) => Framebuffer.Add(this, buffer, format);

    /// <summary>
    /// Commits <paramref name="request"/> (<c>DRM_IOCTL_MODE_ATOMIC</c>). With <see cref="DrmAtomicCommitFlags.PageFlipEvent"/>,
    /// each CRTC in it sends an event with <paramref name="userData"/> once the state is on the screen: await it with
    /// <see cref="ReadEventAsync(TimeSpan, CancellationToken)"/>. Out-fences asked for come from
    /// <see cref="DrmAtomicRequest.TakeOutFence"/> afterwards. Needs DRM master, TestOnly commits too.
    /// </summary>
    /// <exception cref="DrmException">
    /// The kernel refused the commit; nothing changed. The message gives the errno, what it usually means (EACCES:
    /// this file is not master; EINVAL: the driver refuses the state, or a modeset without AllowModeset; ENOENT: an
    /// unknown object or property; EBUSY: an earlier nonblocking commit is still pending) and the request.
    /// </exception>
    /// <exception cref="ArgumentException">TestOnly with PageFlipEvent (the kernel never sends an event for a test), or unknown flags.</exception>
    public void CommitAtomic(DrmAtomicRequest request, DrmAtomicCommitFlags flags = DrmAtomicCommitFlags.None, ulong userData = 0)
    {
        ArgumentNullException.ThrowIfNull(request);
        const DrmAtomicCommitFlags known = DrmAtomicCommitFlags.PageFlipEvent | DrmAtomicCommitFlags.TestOnly | DrmAtomicCommitFlags.Nonblock | DrmAtomicCommitFlags.AllowModeset;
        if ((flags & ~known) != 0 || (flags & (DrmAtomicCommitFlags.TestOnly | DrmAtomicCommitFlags.PageFlipEvent)) == (DrmAtomicCommitFlags.TestOnly | DrmAtomicCommitFlags.PageFlipEvent))
        {
            throw new ArgumentException($"{flags} is not a valid set of commit flags: TestOnly cannot ask for a page-flip event.", nameof(flags));
        }

        using var lease = DeviceLease();
        request.DisposeFences();
        int fenceCount = (flags & DrmAtomicCommitFlags.TestOnly) != 0 ? 0 : request.OutFenceCount;
        Span<int> slots = (fenceCount <= 8 ? stackalloc int[8] : new int[fenceCount])[..fenceCount];
        Span<int> fenceValueIndexes = (fenceCount <= 8 ? stackalloc int[8] : new int[fenceCount])[..fenceCount];
        slots.Fill(-1);
        SyncFile[]? owners = null;
        if (fenceCount > 0)
        {
            // Made before the ioctl: nothing may fail between the kernel installing an fd and its owner taking it.
            owners = new SyncFile[fenceCount];
            for (int i = 0; i < fenceCount; i++)
            {
                owners[i] = new SyncFile(fd: -1);
            }
        }

        request.Layout(fenceValueIndexes, out var objects, out var counts, out var properties, out var values);
        int errno = DrmModeAtomic.Commit(_fd, (uint)flags, objects, counts, properties, values, fenceValueIndexes, slots, userData);
        if (errno != 0)
        {
            // The kernel has released any fd it made for a failed commit and written -1 back.
            ThrowHelper.Throw(errno, nameof(DrmModeAtomic.DRM_IOCTL_MODE_ATOMIC), Path, hint: CommitHint(errno, request, flags));
        }

        if (owners is not null)
        {
            for (int i = 0; i < fenceCount; i++)
            {
                if (slots[i] >= 0)
                {
                    owners[i].Own(slots[i]); // the kernel made it O_CLOEXEC (setup_out_fence)
                }
            }

            Span<uint> objectsOfFences = (fenceCount <= 8 ? stackalloc uint[8] : new uint[fenceCount])[..fenceCount];
            request.OutFenceObjects(objectsOfFences);
            for (int i = 0; i < fenceCount; i++)
            {
                if (owners[i].IsInvalid)
                {
                    owners[i].Dispose();
                }
                else
                {
                    request.KeepFence(objectsOfFences[i], owners[i]);
                }
            }
        }
    }

    /// <summary>
    /// Starts capturing the CRCs of <paramref name="crtc"/>'s frames from debugfs (a test's proof of what is on the
    /// screen); see <see cref="DrmCrcCapture"/>. The CRTC must be on.
    /// </summary>
    /// <param name="crtc">The CRTC, as <see cref="GetCrtc"/> gives it (its index names the debugfs directory).</param>
    /// <param name="source">The CRC source (<c>auto</c>: the driver's default).</param>
    public DrmCrcCapture OpenCrcCapture(DrmCrtc crtc, string source = "auto") => DrmCrcCapture.Open(this, crtc, source);

    /// <summary>
    /// Whether this file is DRM master now, the one file that may set modes and commit. Asked as libdrm's
    /// <c>drmIsMaster</c> does: <c>DRM_IOCTL_AUTH_MAGIC</c> is master-only, so it answers EACCES to any other file.
    /// </summary>
    public bool IsMaster
    {
        get
        {
            using var lease = DeviceLease();
            int errno = Drm.AuthMagicZero(_fd);
            if (errno is 0 or Errno.EINVAL)
            {
                return true;
            }

            if (errno == Errno.EACCES)
            {
                return false;
            }

            ThrowHelper.Throw(errno, nameof(Drm.DRM_IOCTL_AUTH_MAGIC), Path);
            return false;
        }
    }

    /// <summary>Makes this file DRM master (<c>DRM_IOCTL_SET_MASTER</c>), as a compositor does when its session becomes active again.</summary>
    /// <exception cref="DrmException">EBUSY: another file is master; EACCES: neither CAP_SYS_ADMIN nor this process's file was master before.</exception>
    public void SetMaster()
    {
        using var lease = DeviceLease();
        int errno = Drm.SetMaster(_fd);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, nameof(Drm.DRM_IOCTL_SET_MASTER), Path, hint: errno switch
            {
                Errno.EBUSY => "another open file of this device is master (a compositor, or another DrmDevice); it must drop master or close first",
                Errno.EACCES or Errno.EPERM => "only a file that was master before (in this process) or a process with CAP_SYS_ADMIN may become master",
                _ => null,
            });
        }
    }

    /// <summary>Gives up DRM master (<c>DRM_IOCTL_DROP_MASTER</c>), so another file (a VT switch's next compositor) can take it.</summary>
    /// <exception cref="DrmException">EINVAL: this file is not master.</exception>
    public void DropMaster()
    {
        using var lease = DeviceLease();
        int errno = Drm.DropMaster(_fd);
        ThrowHelper.ThrowIfError(errno, nameof(Drm.DRM_IOCTL_DROP_MASTER), Path, hint: errno == Errno.EINVAL ? "this file is not DRM master" : null);
    }

    /// <summary>An object as an exception's target: the node and the object as the kernel's logs name it (<c>[PLANE:31]</c>).</summary>
    internal string Describe(DrmObjectType type, uint id) => $"{Path} {DrmObjectProperties.DescribeObject(type, id)}";

    private static void ThrowIfKmsError(int errno, string operation, string target, string? hint = null)
    {
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, operation, target, hint: hint ?? errno switch
            {
                Errno.EOPNOTSUPP => "the driver has no modesetting (a render-only driver such as vgem); use a KMS driver's card node",
                Errno.ENOENT => "no such object on this device",
                _ => null,
            });
        }
    }

    private string CommitHint(int errno, DrmAtomicRequest request, DrmAtomicCommitFlags flags)
    {
        string meaning = errno switch
        {
            Errno.EACCES or Errno.EPERM => "This file is not DRM master (IsMaster is false): another process (a compositor) or another open file of this card holds it. Open the card before anything else does, or SetMaster() once the master has dropped it",
            Errno.EINVAL when !_atomic => "Turn on DrmClientCapability.Atomic on this device first",
            Errno.EINVAL when (flags & DrmAtomicCommitFlags.AllowModeset) == 0 => "The driver refused this state; a commit that sets a mode or turns a CRTC on or off needs AllowModeset (try it with TestOnly)",
            Errno.EINVAL => "The driver refused this state (try alternatives with TestOnly)",
            Errno.ENOENT => "An object of the request does not exist on this device, or does not have that property",
            Errno.EBUSY => "An earlier nonblocking commit on one of these CRTCs is still pending: wait for its page-flip event",
            _ => "The commit was refused",
        };
        return string.Create(CultureInfo.InvariantCulture, $"{meaning}. Flags: {flags}; request: {request}");
    }
}
