using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// An event read from a DRM file (<c>struct drm_event_vblank</c>, <c>struct drm_event_crtc_sequence</c>): a page
/// flip that completed, or a vblank that was asked for.
/// </summary>
/// <param name="Type">What happened.</param>
/// <param name="UserData">The user data of the commit (or request) that asked for the event.</param>
/// <param name="Sequence">The CRTC's vblank counter at the event.</param>
/// <param name="Timestamp">
/// When it happened, on the clock of <see cref="DrmCapability.TimestampMonotonic"/> (CLOCK_MONOTONIC on every current
/// kernel), as a time since that clock's zero.
/// </param>
/// <param name="CrtcId">The CRTC; 0 for a <see cref="DrmEventType.CrtcSequence"/> event, which does not say.</param>
public readonly record struct DrmEvent(DrmEventType Type, ulong UserData, ulong Sequence, TimeSpan Timestamp, uint CrtcId)
{
    /// <summary>
    /// Parses the events of one read into <paramref name="into"/>. Every length is checked before it is used: an
    /// event of a type this library does not know is skipped by its length; a length that is shorter than its header
    /// or its type's struct, or runs past the data, stops the parse. Returns -1 when every byte was an event, else
    /// the offset of the first malformed one.
    /// </summary>
    internal static int Parse(ReadOnlySpan<byte> data, Queue<DrmEvent> into)
    {
        int headerSize = Marshal.SizeOf<Drm.drm_event>();
        int offset = 0;
        while (offset < data.Length)
        {
            ReadOnlySpan<byte> rest = data[offset..];
            if (rest.Length < headerSize)
            {
                return offset;
            }

            var header = MemoryMarshal.Read<Drm.drm_event>(rest);
            if (header.length < headerSize || header.length > rest.Length)
            {
                return offset;
            }

            ReadOnlySpan<byte> bytes = rest[..(int)header.length];
            switch (header.type)
            {
                case Drm.DRM_EVENT_VBLANK or Drm.DRM_EVENT_FLIP_COMPLETE:
                    if (bytes.Length < Marshal.SizeOf<Drm.drm_event_vblank>())
                    {
                        return offset;
                    }

                    var v = MemoryMarshal.Read<Drm.drm_event_vblank>(bytes);
                    into.Enqueue(new DrmEvent((DrmEventType)header.type, v.user_data, v.sequence,
                        TimeSpan.FromSeconds(v.tv_sec) + TimeSpan.FromMicroseconds(v.tv_usec), v.crtc_id));
                    break;
                case Drm.DRM_EVENT_CRTC_SEQUENCE:
                    if (bytes.Length < Marshal.SizeOf<Drm.drm_event_crtc_sequence>())
                    {
                        return offset;
                    }

                    var s = MemoryMarshal.Read<Drm.drm_event_crtc_sequence>(bytes);
                    into.Enqueue(new DrmEvent(DrmEventType.CrtcSequence, s.user_data, s.sequence, TimeSpan.FromTicks(s.time_ns / 100), 0));
                    break;
                default:
                    break; // a driver's own event (0x80000000 and up) or a newer generic one: not ours to read
            }

            offset += (int)header.length;
        }

        return -1;
    }
}

/// <summary>The kinds of DRM event this library reads (<c>DRM_EVENT_*</c>).</summary>
public enum DrmEventType : uint
{
    /// <summary><c>DRM_EVENT_VBLANK</c>: a vblank asked for with <c>DRM_IOCTL_WAIT_VBLANK</c>.</summary>
    VBlank = Drm.DRM_EVENT_VBLANK,

    /// <summary><c>DRM_EVENT_FLIP_COMPLETE</c>: a commit with <see cref="DrmAtomicCommitFlags.PageFlipEvent"/> is on the screen.</summary>
    FlipComplete = Drm.DRM_EVENT_FLIP_COMPLETE,

    /// <summary><c>DRM_EVENT_CRTC_SEQUENCE</c>: a CRTC sequence asked for with <c>DRM_IOCTL_CRTC_QUEUE_SEQUENCE</c>.</summary>
    CrtcSequence = Drm.DRM_EVENT_CRTC_SEQUENCE,
}
