using Microsoft.Win32.SafeHandles;
using Wayland.Wire;

namespace WlShow;

/// <summary>What a capture returned: XRGB8888 rows of <see cref="Stride"/> bytes, top row first.</summary>
public sealed record Screenshot(int Width, int Height, int Stride, byte[] Pixels);

/// <summary>Reads the output back through whichever capture protocol the compositor offers.</summary>
internal abstract class Capture
{
    /// <summary>The protocol, as the user reads it.</summary>
    public abstract string Name { get; }

    public abstract Screenshot Take();

    /// <summary>An shm buffer of <paramref name="width"/>×<paramref name="height"/> in a memfd the caller disposes.</summary>
    internal static WaylandProxy CreateShmBuffer(WaylandProxy shm, int width, int height, int stride, WlShm.Format format, out SafeFileHandle memory)
    {
        int size = checked(stride * height);
        memory = SharedMemory.Create("wlshow-shm", size);
        WaylandProxy pool = WlShm.CreatePool(shm, memory, size);
        WaylandProxy buffer = WlShmPool.CreateBuffer(pool, 0, width, height, stride, (uint)format);
        WlShmPool.Destroy(pool); // the buffer keeps the memory
        return buffer;
    }

    internal static byte[] ReadAll(SafeFileHandle memory, int size)
    {
        byte[] pixels = new byte[size];
        for (int read = 0; read < size;)
        {
            int n = RandomAccess.Read(memory, pixels.AsSpan(read), read);
            read += n > 0 ? n : throw new IOException("the capture's memory file is shorter than its buffer");
        }

        return pixels;
    }
}

/// <summary>weston's debug protocol: <c>shoot(output, buffer)</c>, answered by <c>done</c>.</summary>
internal sealed class WestonScreenshotCapture(WaylandClient connection, WaylandProxy screenshooter, WaylandProxy shm, WaylandProxy output, Func<(int W, int H)> size)
    : Capture, WestonScreenshooter.IEvents
{
    private bool _done;

    public override string Name => "weston_screenshooter";

    public override Screenshot Take()
    {
        var (w, h) = size();
        WaylandProxy buffer = CreateShmBuffer(shm, w, h, w * 4, WlShm.Format.Xrgb8888, out SafeFileHandle memory);
        using (memory)
        {
            _done = false;
            WestonScreenshooter.Listen(screenshooter, this);
            WestonScreenshooter.Shoot(screenshooter, output, buffer);
            connection.WaitFor(() => _done, $"{screenshooter}.done");
            WlBuffer.Destroy(buffer);
            return new Screenshot(w, h, w * 4, ReadAll(memory, w * 4 * h));
        }
    }

    void WestonScreenshooter.IEvents.Done(WaylandProxy self) => _done = true;
}

/// <summary>
/// wlroots' <c>zwlr_screencopy_manager_v1</c> (what grim uses): the compositor says the buffer it wants (format, size,
/// stride), the client provides it and asks for a copy, and <c>flags</c> says whether the rows come bottom-up.
/// </summary>
internal sealed class WlrScreencopyCapture(WaylandClient connection, WaylandProxy manager, WaylandProxy shm, WaylandProxy output)
    : Capture, ZwlrScreencopyFrameV1.IEvents
{
    private (uint Format, int Width, int Height, int Stride)? _shm;
    private bool _bufferDone;
    private bool _yInvert;
    private bool? _ready;

    public override string Name => $"zwlr_screencopy_manager_v1 v{manager.Version}";

    public override Screenshot Take()
    {
        _shm = null;
        _bufferDone = false;
        _ready = null;
        _yInvert = false;
        WaylandProxy frame = ZwlrScreencopyManagerV1.CaptureOutput(manager, 0, output);
        ZwlrScreencopyFrameV1.Listen(frame, this);
        // Version 3 lists every buffer type it accepts and ends with buffer_done; before that, buffer is all.
        connection.WaitFor(() => manager.Version >= 3 ? _bufferDone : _shm is not null, $"{frame}'s buffer description");
        var (format, w, h, stride) = _shm ?? throw new NotSupportedException($"{frame}: the compositor offers no wl_shm buffer for capture");
        // wlroots captures in the output's format: XRGB8888 or, on GLES outputs, XBGR8888 (red and blue swapped).
        bool swapRedBlue = format is (uint)WlShm.Format.Xbgr8888 or (uint)WlShm.Format.Abgr8888;
        if (!(swapRedBlue || format is (uint)WlShm.Format.Xrgb8888 or (uint)WlShm.Format.Argb8888) || stride < w * 4)
        {
            throw new NotSupportedException($"{frame}: the compositor captures into wl_shm format 0x{format:x} (stride {stride}); wlshow reads [AX]RGB8888 and [AX]BGR8888");
        }

        WaylandProxy buffer = CreateShmBuffer(shm, w, h, stride, (WlShm.Format)format, out SafeFileHandle memory);
        using (memory)
        {
            ZwlrScreencopyFrameV1.Copy(frame, buffer);
            connection.WaitFor(() => _ready is not null, $"{frame}.ready");
            ZwlrScreencopyFrameV1.Destroy(frame);
            WlBuffer.Destroy(buffer);
            if (_ready == false)
            {
                throw new WaylandProtocolException(frame.ToString(), null, null, "the compositor could not copy the output (failed event)");
            }

            byte[] pixels = ReadAll(memory, stride * h);
            if (swapRedBlue)
            {
                for (int i = 0; i + 4 <= pixels.Length; i += 4)
                {
                    (pixels[i], pixels[i + 2]) = (pixels[i + 2], pixels[i]);
                }
            }

            if (_yInvert)
            {
                byte[] flipped = new byte[pixels.Length];
                for (int y = 0; y < h; y++)
                {
                    Buffer.BlockCopy(pixels, y * stride, flipped, (h - 1 - y) * stride, stride);
                }

                pixels = flipped;
            }

            return new Screenshot(w, h, stride, pixels);
        }
    }

    void ZwlrScreencopyFrameV1.IEvents.Buffer(WaylandProxy self, uint format, uint width, uint height, uint stride)
    {
        if (width is 0 or > 16384 || height is 0 or > 16384 || stride > 65536 * 4)
        {
            throw new InvalidDataException($"{self}.buffer: {width}x{height}, stride {stride} is no output's buffer");
        }

        _shm = (format, (int)width, (int)height, (int)stride);
    }

    void ZwlrScreencopyFrameV1.IEvents.Flags(WaylandProxy self, uint flags) => _yInvert = (flags & (uint)ZwlrScreencopyFrameV1.Flags.YInvert) != 0;

    void ZwlrScreencopyFrameV1.IEvents.BufferDone(WaylandProxy self) => _bufferDone = true;

    void ZwlrScreencopyFrameV1.IEvents.Ready(WaylandProxy self, uint tvSecHi, uint tvSecLo, uint tvNsec) => _ready = true;

    void ZwlrScreencopyFrameV1.IEvents.Failed(WaylandProxy self) => _ready = false;
}
