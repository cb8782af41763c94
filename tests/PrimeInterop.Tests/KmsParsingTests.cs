using System.Runtime.InteropServices;
using System.Text;
using PrimeInterop.Interop;

namespace PrimeInterop.Tests;

/// <summary>
/// What the KMS layer reads from the kernel and debugfs, parsed without a kernel: DRM events, CRC lines, IN_FORMATS
/// blobs, and how an atomic request is laid out. Every malformed input is refused or skipped, never read past.
/// </summary>
public sealed class KmsParsingTests
{
    [Fact]
    public void Events_are_parsed_in_order_and_unknown_types_are_skipped_by_their_length()
    {
        byte[] data = [.. Flip(0xabc, 100, 2, 500_000, 31), .. Event(0x80000001, 24), .. Sequence(9, 123_456_789, 101)];
        var events = new Queue<DrmEvent>();
        Assert.Equal(-1, DrmEvent.Parse(data, events));
        Assert.Equal(
            [
                new DrmEvent(DrmEventType.FlipComplete, 0xabc, 100, TimeSpan.FromSeconds(2.5), 31),
                new DrmEvent(DrmEventType.CrtcSequence, 9, 101, TimeSpan.FromTicks(1_234_567), 0),
            ],
            events);
    }

    [Theory]
    [InlineData(4, 0, "a header cut short")]
    [InlineData(8, 4, "a length shorter than the header")]
    [InlineData(16, 16, "a flip event shorter than its struct")]
    [InlineData(32, 64, "a length past the data")]
    public void A_malformed_event_stops_the_parse_at_its_offset_keeping_the_events_before_it(int size, int length, string what)
    {
        byte[] bad = new byte[size];
        if (size >= 8)
        {
            MemoryMarshal.Write(bad, new Drm.drm_event { type = Drm.DRM_EVENT_FLIP_COMPLETE, length = (uint)length });
        }

        byte[] data = [.. Flip(2, 3, 4, 5, 6), .. bad];
        var events = new Queue<DrmEvent>();
        Assert.True(DrmEvent.Parse(data, events) == 32, what);
        Assert.Single(events);
    }

    [Fact]
    public void Crc_lines_are_parsed_and_anything_else_is_refused()
    {
        DrmCrc? crc = DrmCrc.Parse(Ascii("0x0000002a 0xfb7fbc89\n\0")); // the kernel's read copies the NUL too
        Assert.NotNull(crc);
        Assert.Equal(42u, crc.Frame);
        Assert.Equal([0xfb7fbc89u], crc.Values);
        DrmCrc? noFrame = DrmCrc.Parse(Ascii("XXXXXXXXXX 0x00000001 0x00000002\n"));
        Assert.NotNull(noFrame);
        Assert.Null(noFrame.Frame);
        Assert.Equal([1u, 2u], noFrame.Values);
        Assert.False(crc.SameValues(noFrame));

        foreach (string bad in new[] { "", "\n", "0x0000002a\n", "0x0000002a 0xfb7fbc89", "0x2a 0xfb7fbc89\n", "0x0000002a 0xfb7fbcz9\n", "0x0000002a  0xfb7fbc89\n", "0x0000002a 0xfb7fbc89\n\0\0", "0x0000002a 0xfb7fbc89\0" })
        {
            Assert.True(DrmCrc.Parse(Ascii(bad)) is null, $"'{bad}' was taken for a CRC line");
        }
    }

    [Fact]
    public void An_in_formats_blob_gives_its_format_and_modifier_pairs()
    {
        uint xr24 = DrmFourcc.Xrgb8888.Value, ar24 = DrmFourcc.Argb8888.Value, nv12 = DrmFourcc.Nv12.Value;
        const ulong Linear = 0, Tiled = 0x0100000000000001;
        byte[] blob = InFormats([xr24, ar24, nv12], [(0b011, 0, Linear), (0b101, 0, Tiled), (0b1, 2, Tiled), (1UL << 40, 0, Linear)]);
        Assert.Equal(
            [
                new DrmFormat(DrmFourcc.Xrgb8888, Linear), new DrmFormat(DrmFourcc.Argb8888, Linear),
                new DrmFormat(DrmFourcc.Xrgb8888, Tiled), new DrmFormat(DrmFourcc.Nv12, Tiled),
                new DrmFormat(DrmFourcc.Nv12, Tiled), // bit 0 at offset 2; bit 40 names no format and is ignored
            ],
            DrmFormat.ParseInFormats(blob));
    }

    [Fact]
    public void A_malformed_in_formats_blob_is_refused_before_anything_is_read_past_it()
    {
        byte[] good = InFormats([DrmFourcc.Xrgb8888.Value], [(1, 0, 0)]);
        Assert.Contains("header", Assert.Throws<ArgumentException>(() => DrmFormat.ParseInFormats(good.AsSpan(0, 20))).Message);
        Assert.Contains("version 0", Assert.Throws<ArgumentException>(() => DrmFormat.ParseInFormats(With(good, 0, 0))).Message);
        Assert.Contains("formats", Assert.Throws<ArgumentException>(() => DrmFormat.ParseInFormats(With(good, 8, uint.MaxValue))).Message);
        Assert.Contains("formats", Assert.Throws<ArgumentException>(() => DrmFormat.ParseInFormats(With(good, 12, uint.MaxValue - 1))).Message);
        Assert.Contains("modifiers", Assert.Throws<ArgumentException>(() => DrmFormat.ParseInFormats(With(good, 16, 2))).Message);
        Assert.Contains("modifiers", Assert.Throws<ArgumentException>(() => DrmFormat.ParseInFormats(With(good, 20, (uint)good.Length - 23))).Message);
    }

    [Fact]
    public void An_atomic_request_groups_by_object_keeps_the_last_value_and_points_out_fences_at_their_slots()
    {
        var request = new DrmAtomicRequest();
        var fbId = new DrmProperty(20, "FB_ID", DrmModeProperty.DRM_MODE_PROP_OBJECT | DrmModeProperty.DRM_MODE_PROP_ATOMIC, [Interop.DrmMode.DRM_MODE_OBJECT_FB], []);
        var fence = new DrmProperty(40, "WRITEBACK_OUT_FENCE_PTR", DrmModeProperty.DRM_MODE_PROP_RANGE | DrmModeProperty.DRM_MODE_PROP_ATOMIC, [0, ulong.MaxValue], []);
        request.Add(31, fbId, 100);
        request.Add(50, 41, 1);
        request.Add(31, 21, 7);
        request.AddOutFence(50, fence);
        request.Add(31, fbId, 101); // replaces 100, keeps its place
        Assert.Equal(4, request.Count);
        Assert.Equal("object 31: FB_ID=101 property 21=7; object 50: property 41=1 WRITEBACK_OUT_FENCE_PTR=<out-fence>", request.ToString());
        Assert.Equal(1, request.OutFenceCount);

        Span<int> fenceValues = stackalloc int[1];
        Assert.Equal(2, request.Layout(fenceValues, out var objects, out var counts, out var properties, out var values));
        Assert.Equal([31u, 50u], objects.ToArray());
        Assert.Equal([2u, 2u], counts.ToArray());
        Assert.Equal([20u, 21u, 41u, 40u], properties.ToArray());
        Assert.Equal([101UL, 7UL, 1UL], values[..3].ToArray());
        Assert.Equal(3, fenceValues[0]); // the commit points values[3] at fence slot 0

        Assert.Throws<InvalidOperationException>(() => request.TakeOutFence(50)); // nothing was committed
        Assert.Throws<ArgumentOutOfRangeException>(() => request.Add(0, 21, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => request.Add(31, 0, 1));
        request.Clear();
        Assert.Equal((0, "(empty)"), (request.Count, request.ToString()));
    }

    [Fact]
    public void Enum_and_bitmask_values_are_found_by_name()
    {
        var rotation = new DrmProperty(5, "rotation", DrmModeProperty.DRM_MODE_PROP_BITMASK, [0, 5], [(0, "rotate-0"), (5, "reflect-y")]);
        Assert.Equal((DrmPropertyKind.Bitmask, 1UL, 0x20UL), (rotation.Kind, rotation.ValueOf("rotate-0"), rotation.ValueOf("reflect-y")));
        var type = new DrmProperty(6, "type", DrmModeProperty.DRM_MODE_PROP_ENUM | DrmModeProperty.DRM_MODE_PROP_IMMUTABLE, [0, 1, 2], [(0, "Overlay"), (1, "Primary"), (2, "Cursor")]);
        Assert.Equal((DrmPropertyKind.Enum, 2UL, "Primary", null), (type.Kind, type.ValueOf("Cursor"), type.NameOf(1), type.NameOf(9)));
        Assert.Contains("Overlay, Primary, Cursor", Assert.Throws<ArgumentException>(() => type.ValueOf("Underlay")).Message);
        Assert.Throws<InvalidOperationException>(() => type.Range);
    }

    [Fact]
    public unsafe void A_mode_is_its_kernel_bytes()
    {
        var raw = new Interop.DrmMode.drm_mode_modeinfo { clock = 25175, hdisplay = 640, vdisplay = 480, vrefresh = 60, type = Interop.DrmMode.DRM_MODE_TYPE_PREFERRED };
        "640x480"u8.CopyTo(new Span<byte>(raw.name, 32));
        var mode = new DrmModeInfo(raw);
        Assert.Equal(68, DrmModeInfo.Size);
        Assert.Equal(("640x480", true), (mode.Name, mode.IsPreferred));
        Assert.Equal(mode, DrmModeInfo.FromBytes(mode.AsBytes()));
        Assert.Throws<ArgumentException>(() => DrmModeInfo.FromBytes(new byte[67]));
    }

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    private static byte[] Event(uint type, int length)
    {
        byte[] e = new byte[length];
        MemoryMarshal.Write(e, new Drm.drm_event { type = type, length = (uint)length });
        return e;
    }

    private static byte[] Flip(ulong userData, uint sequence, uint seconds, uint microseconds, uint crtc)
    {
        var v = new Drm.drm_event_vblank
        {
            @base = new Drm.drm_event { type = Drm.DRM_EVENT_FLIP_COMPLETE, length = 32 },
            user_data = userData, sequence = sequence, tv_sec = seconds, tv_usec = microseconds, crtc_id = crtc,
        };
        return MemoryMarshal.AsBytes(new ReadOnlySpan<Drm.drm_event_vblank>(in v)).ToArray();
    }

    private static byte[] Sequence(ulong userData, long nanoseconds, ulong sequence)
    {
        var s = new Drm.drm_event_crtc_sequence
        {
            @base = new Drm.drm_event { type = Drm.DRM_EVENT_CRTC_SEQUENCE, length = 32 },
            user_data = userData, time_ns = nanoseconds, sequence = sequence,
        };
        return MemoryMarshal.AsBytes(new ReadOnlySpan<Drm.drm_event_crtc_sequence>(in s)).ToArray();
    }

    /// <summary>An IN_FORMATS blob as the kernel lays it out: header, formats, then the modifiers.</summary>
    private static byte[] InFormats(uint[] formats, (ulong Formats, uint Offset, ulong Modifier)[] modifiers)
    {
        const int Header = 24, Entry = 24;
        byte[] blob = new byte[Header + (formats.Length * 4) + 4 + (modifiers.Length * Entry)]; // 4: the kernel aligns the modifiers to 8
        int modifiersOffset = Header + (formats.Length * 4) + 4;
        MemoryMarshal.Write(blob, new DrmModeProperty.drm_format_modifier_blob
        {
            version = 1, count_formats = (uint)formats.Length, formats_offset = Header, count_modifiers = (uint)modifiers.Length, modifiers_offset = (uint)modifiersOffset,
        });
        MemoryMarshal.AsBytes(formats.AsSpan()).CopyTo(blob.AsSpan(Header));
        for (int i = 0; i < modifiers.Length; i++)
        {
            MemoryMarshal.Write(blob.AsSpan(modifiersOffset + (i * Entry)), new DrmModeProperty.drm_format_modifier
            {
                formats = modifiers[i].Formats, offset = modifiers[i].Offset, modifier = modifiers[i].Modifier,
            });
        }

        return blob;
    }

    private static byte[] With(byte[] blob, int offset, uint value)
    {
        byte[] copy = [.. blob];
        BitConverter.TryWriteBytes(copy.AsSpan(offset), value);
        return copy;
    }
}
