using Microsoft.Win32.SafeHandles;
using PrimeInterop;

namespace PrimeCtl.Commands;

/// <summary>
/// Where `primectl export` gets its buffer: a dumb buffer on a DRM device, a udmabuf over a memfd, or a dma-buf heap.
/// Each draws the test image its own way, and can name a vgem handle to hang a write fence on.
/// </summary>
internal sealed class ExportSource : IDisposable
{
    public const string Dumb = "dumb", Udmabuf = "udmabuf", Heap = "heap";

    private readonly List<IDisposable> _owned = [];
    private readonly Func<DrmDevice>? _openVgem;
    private DumbBuffer? _dumb;
    private SafeFileHandle? _memfd;
    private GemHandle? _fenceHandle;

    private ExportSource(string kind, Func<DrmDevice>? openVgem)
    {
        Kind = kind;
        _openVgem = openVgem;
    }

    public string Kind { get; }

    public DmaBuf Buffer { get; private set; } = null!;

    public uint Pitch { get; private set; }

    public string Description { get; private set; } = "";

    /// <summary>
    /// Whether the image can be drawn while a write fence is pending. A dumb buffer (MAP_DUMB) and a udmabuf (its
    /// memfd) have CPU paths outside the dma-buf; a heap buffer has only the dma-buf mapping, whose
    /// DMA_BUF_IOCTL_SYNC START waits for every fence — the exporter's own write fence too.
    /// </summary>
    public bool DrawsUnderFence => Kind != Heap;

    /// <param name="kind">dumb, udmabuf or heap.</param>
    /// <param name="openDevice">Opens the device for a dumb buffer (a primary node).</param>
    /// <param name="openVgem">Opens a vgem node to attach fences on, for sources that are not a vgem buffer already.</param>
    public static ExportSource Create(string kind, uint width, uint height, Func<DrmDevice> openDevice, Func<DrmDevice> openVgem)
    {
        var source = new ExportSource(kind, openVgem);
        try
        {
            source.Allocate(width, height, openDevice);
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    private void Allocate(uint width, uint height, Func<DrmDevice> openDevice)
    {
        Pitch = width * 4;
        long page = Environment.SystemPageSize;
        long size = ((Pitch * (long)height) + page - 1) / page * page;
        switch (Kind)
        {
            case Dumb:
                var device = Own(openDevice());
                _dumb = Own(device.CreateDumbBuffer(width, height, 32));
                Pitch = _dumb.Pitch;
                Buffer = Own(device.ExportDmaBuf(_dumb.Handle));
                Description = $"{width}x{height} XR24 dumb buffer on {device.Path} ({device.Version}), GEM handle {_dumb.Handle.Value}, pitch {Pitch}";
                if (device.Version.Name == "vgem")
                {
                    _fenceHandle = _dumb.Handle;
                }

                break;
            case Udmabuf:
                _memfd = Own(PrimeInterop.Udmabuf.CreateMemfd(size, "primectl-image"));
                Buffer = Own(PrimeInterop.Udmabuf.Create(_memfd, 0, size));
                Description = $"{width}x{height} XR24 udmabuf over a sealed memfd ({PrimeInterop.Udmabuf.DevicePath}), pitch {Pitch}";
                break;
            case Heap:
                var heap = Own(DmaHeap.Open("system"));
                Buffer = Own(heap.Allocate(size));
                Description = $"{width}x{height} XR24 buffer from the {heap.Name} dma-buf heap ({heap.Path}), pitch {Pitch}";
                break;
            default:
                throw new UsageException($"--source is dumb, udmabuf or heap, not '{Kind}'");
        }
    }

    /// <summary>Draws the test image through this source's CPU path.</summary>
    public void Draw(uint width, uint height, uint seed)
    {
        if (_dumb is not null)
        {
            using var map = _dumb.Map();
            using var cpu = map.BeginAccess();
            TestImage.Fill(cpu.Span, width, height, Pitch, seed);
        }
        else if (_memfd is not null)
        {
            byte[] pixels = new byte[Pitch * height];
            TestImage.Fill(pixels, width, height, Pitch, seed);
            RandomAccess.Write(_memfd, pixels, 0); // the memfd's pages are the udmabuf's pages
        }
        else
        {
            using var map = Buffer.Map(DmaBufAccess.ReadWrite);
            using var cpu = map.BeginAccess(DmaBufAccess.Write);
            TestImage.Fill(cpu.Span, width, height, Pitch, seed);
        }
    }

    /// <summary>A write fence on the buffer from vgem: on the dumb buffer's own handle, or on an import into vgem.</summary>
    public VgemFence AttachWriteFence()
    {
        if (_fenceHandle is null)
        {
            var vgem = Own(_openVgem!());
            _fenceHandle = Own(vgem.ImportDmaBuf(Buffer)); // the fence lands in the dma-buf's own reservation object
        }

        return VgemFence.Attach(_fenceHandle, DmaBufAccess.Write);
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
    }

    private T Own<T>(T item)
        where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }
}
