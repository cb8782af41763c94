using Microsoft.Win32.SafeHandles;
using PrimeInterop;
using Wayland.Wire;

namespace PrimeComp;

/// <summary>
/// <c>zwp_linux_dmabuf_v1</c> (v3: a modifier event per format and modifier; v4: feedback with a format table) and
/// its <c>zwp_linux_buffer_params_v1</c>: the client's planes are collected, checked against the protocol's rules and
/// the kernel's answers, imported into the card once and turned into a framebuffer when the buffer is created.
/// </summary>
internal sealed class LinuxDmaBuf : ZwpLinuxDmabufV1.IRequests, ZwpLinuxDmabufFeedbackV1.IRequests, IDisposable
{
    /// <summary>linux-dmabuf's planes: at most 4 per buffer (as drm_mode_fb_cmd2 has).</summary>
    public const int MaxPlanes = 4;

    private const uint ScanoutFlag = 1; // zwp_linux_dmabuf_feedback_v1.tranche_flags.scanout

    private readonly Compositor _compositor;
    private readonly SafeFileHandle _table;
    private readonly uint _tableSize;
    private readonly DrmDeviceNumber? _device;

    public LinuxDmaBuf(Compositor compositor, IReadOnlyList<FormatModifier> formats)
    {
        _compositor = compositor;
        Formats = formats;
        _table = DmaBufFormatTable.Create(formats, out _tableSize);
        _device = DrmDeviceNumber.Of(compositor.Card.Path);
    }

    /// <summary>What clients may send: the pairs the planes scan out, with the implicit modifier (INVALID) beside each format.</summary>
    public IReadOnlyList<FormatModifier> Formats { get; }

    public void Bind(WaylandResource r)
    {
        ZwpLinuxDmabufV1.Implement(r, this);
        if (r.Version < 4)
        {
            foreach (FormatModifier f in Formats)
            {
                if (f.Modifier == DmaBufDescription.InvalidModifier)
                {
                    ZwpLinuxDmabufV1.SendFormat(r, f.Format); // deprecated, but what v1 and v2 clients read
                }

                if (r.Version >= 3)
                {
                    ZwpLinuxDmabufV1.SendModifier(r, f.Format, (uint)(f.Modifier >> 32), (uint)f.Modifier);
                }
            }
        }
    }

    public void Dispose() => _table.Dispose();

    void ZwpLinuxDmabufV1.IRequests.CreateParams(WaylandResource self, WaylandResource paramsId)
    {
        var parameters = new BufferParams(this);
        paramsId.Destroyed += _ => parameters.Dispose(); // destroyed, used or not, or with its client: the fds not taken are closed
        ZwpLinuxBufferParamsV1.Implement(paramsId, parameters);
    }

    void ZwpLinuxDmabufV1.IRequests.GetDefaultFeedback(WaylandResource self, WaylandResource id) => SendFeedback(id);

    void ZwpLinuxDmabufV1.IRequests.GetSurfaceFeedback(WaylandResource self, WaylandResource id, WaylandResource surface) => SendFeedback(id);

    private void SendFeedback(WaylandResource feedback)
    {
        ZwpLinuxDmabufFeedbackV1.Implement(feedback, this);
        DrmDeviceNumber device = _device ?? throw new InvalidOperationException($"sysfs does not know {_compositor.Card.Path}'s device number");
        DmaBufFeedbackEvents.Send(feedback, Formats, _table, _tableSize, device, [new DmaBufTranche(device, ScanoutFlag, Formats)]);
    }

    /// <summary>One <c>zwp_linux_buffer_params_v1</c>: the planes added so far, then one create or create_immed.</summary>
    private sealed class BufferParams(LinuxDmaBuf owner) : ZwpLinuxBufferParamsV1.IRequests, IDisposable
    {
        private readonly (DmaBuf Buffer, uint Offset, uint Stride, ulong Modifier)?[] _planes = new (DmaBuf, uint, uint, ulong)?[MaxPlanes];
        private bool _used;

        public void Dispose()
        {
            for (int i = 0; i < _planes.Length; i++)
            {
                _planes[i]?.Buffer.Dispose();
                _planes[i] = null;
            }
        }

        void ZwpLinuxBufferParamsV1.IRequests.Add(WaylandResource self, SafeFileHandle fd, uint planeIdx, uint offset, uint stride, uint modifierHi, uint modifierLo)
        {
            DmaBuf plane;
            try
            {
                plane = WireFds.TakeDmaBuf(fd, $"{self}.add"); // the kernel's answer (fstatfs); any other fd is closed here
            }
            catch (InvalidDataException notDmaBuf)
            {
                // No error of add names a bad fd; invalid_wl_buffer is linux-dmabuf's for a buffer that cannot be made.
                self.PostError((uint)ZwpLinuxBufferParamsV1.Error.InvalidWlBuffer, notDmaBuf.Message);
                return;
            }

            (ZwpLinuxBufferParamsV1.Error Code, string Message)? error =
                _used ? (ZwpLinuxBufferParamsV1.Error.AlreadyUsed, "these parameters made a buffer already")
                : planeIdx >= MaxPlanes ? (ZwpLinuxBufferParamsV1.Error.PlaneIdx, $"plane index {planeIdx} (at most {MaxPlanes - 1})")
                : _planes[planeIdx] is not null ? (ZwpLinuxBufferParamsV1.Error.PlaneSet, $"plane {planeIdx} is set already")
                : null;
            if (error is { } e)
            {
                plane.Dispose();
                self.PostError((uint)e.Code, e.Message);
                return;
            }

            _planes[planeIdx] = (plane, offset, stride, ((ulong)modifierHi << 32) | modifierLo);
        }

        void ZwpLinuxBufferParamsV1.IRequests.Create(WaylandResource self, int width, int height, uint format, uint flags)
        {
            if (Describe(self, width, height, format) is not { } description)
            {
                return;
            }

            if (owner._compositor.Import(description, out string? failure) is not { } imported)
            {
                // The kernel refused a buffer the protocol allows: linux-dmabuf's non-fatal failure.
                owner._compositor.Log($"{self}.create: {failure}; sent failed");
                ZwpLinuxBufferParamsV1.SendFailed(self);
                return;
            }

            owner._compositor.AddBuffer(ZwpLinuxBufferParamsV1.SendCreated(self), description, imported, flags); // created: a server-side id
        }

        void ZwpLinuxBufferParamsV1.IRequests.CreateImmed(WaylandResource self, WaylandResource bufferId, int width, int height, uint format, uint flags)
        {
            if (Describe(self, width, height, format) is not { } description)
            {
                return;
            }

            if (owner._compositor.Import(description, out string? failure) is not { } imported)
            {
                self.PostError((uint)ZwpLinuxBufferParamsV1.Error.InvalidWlBuffer, failure!);
                return;
            }

            owner._compositor.AddBuffer(bufferId, description, imported, flags);
        }

        /// <summary>
        /// The planes as a description (which takes their dma-bufs), or null after posting the error the XML names:
        /// already_used, incomplete, invalid_format, invalid_dimensions, out_of_bounds.
        /// </summary>
        private DmaBufDescription? Describe(WaylandResource self, int width, int height, uint format)
        {
            if (_used)
            {
                self.PostError((uint)ZwpLinuxBufferParamsV1.Error.AlreadyUsed, "these parameters made a buffer already");
                return null;
            }

            _used = true;
            var fourcc = new DrmFourcc(format);
            int count = _planes.Count(p => p is not null);
            ulong modifier = _planes[0]?.Modifier ?? 0;
            DrmResources limits = owner._compositor.Output.Resources;
            (ZwpLinuxBufferParamsV1.Error Code, string Message)? error = null;
            if (fourcc.Info is not { } info || !owner.Formats.Contains(new FormatModifier(format, modifier)))
            {
                error = (ZwpLinuxBufferParamsV1.Error.InvalidFormat, $"format {fourcc} with modifier 0x{modifier:x} was not advertised");
            }
            else if (count != info.PlaneCount || Enumerable.Range(0, info.PlaneCount).Any(i => _planes[i] is null))
            {
                error = (ZwpLinuxBufferParamsV1.Error.Incomplete, $"{fourcc} has {info.PlaneCount} plane(s); planes {string.Join(",", Enumerable.Range(0, MaxPlanes).Where(i => _planes[i] is not null))} were added");
            }
            else if (_planes.Any(p => p is not null && p.Value.Modifier != modifier))
            {
                error = (ZwpLinuxBufferParamsV1.Error.InvalidFormat, "the planes' modifiers differ");
            }
            else if (width <= 0 || height <= 0 || width > limits.MaxWidth || height > limits.MaxHeight)
            {
                error = (ZwpLinuxBufferParamsV1.Error.InvalidDimensions, $"{width}x{height} (this card scans out 1x1 to {limits.MaxWidth}x{limits.MaxHeight})");
            }
            else
            {
                for (int i = 0; i < info.PlaneCount && error is null; i++)
                {
                    var (buffer, offset, stride, _) = _planes[i]!.Value;
                    // 128-bit arithmetic: no product or sum of these 32-bit fields overflows it.
                    UInt128 row = (UInt128)info.PlaneWidth(i, (uint)width) * (uint)info.BytesPerPixel[i];
                    UInt128 end = offset + ((UInt128)info.PlaneHeight(i, (uint)height) - 1) * stride + row;
                    if (stride < row || end > (ulong)buffer.Size)
                    {
                        error = (ZwpLinuxBufferParamsV1.Error.OutOfBounds, $"plane {i}: offset {offset} + {info.PlaneHeight(i, (uint)height)} rows of stride {stride} (rows of {row} bytes) do not fit the {buffer.Size}-byte dma-buf");
                    }
                }
            }

            if (error is { } e)
            {
                self.PostError((uint)e.Code, e.Message);
                return null;
            }

            DmaBufPlane[] planes = new DmaBufPlane[count];
            for (int i = 0; i < count; i++)
            {
                var (buffer, offset, stride, _) = _planes[i]!.Value;
                planes[i] = new DmaBufPlane(buffer, offset, stride);
            }

            var description = new DmaBufDescription((uint)width, (uint)height, fourcc, modifier, planes); // checked above as it checks
            Array.Clear(_planes); // the description owns the dma-bufs now
            return description;
        }
    }
}
