using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>The atomic commit ioctl (include/uapi/drm/drm_mode.h): MODE_ATOMIC and its flags.</summary>
internal static unsafe class DrmModeAtomic
{
    public const uint DRM_MODE_PAGE_FLIP_EVENT = 0x01;
    public const uint DRM_MODE_ATOMIC_TEST_ONLY = 0x0100, DRM_MODE_ATOMIC_NONBLOCK = 0x0200, DRM_MODE_ATOMIC_ALLOW_MODESET = 0x0400;

    /// <summary>
    /// The request as four parallel arrays: <c>objs_ptr[i]</c> has <c>count_props_ptr[i]</c> properties, which follow
    /// one another in <c>props_ptr</c> and <c>prop_values_ptr</c>.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct drm_mode_atomic
    {
        public uint flags;
        public uint count_objs;
        public ulong objs_ptr;
        public ulong count_props_ptr;
        public ulong props_ptr;
        public ulong prop_values_ptr;
        public ulong reserved;
        public ulong user_data;
    }

    public static readonly uint DRM_IOCTL_MODE_ATOMIC = Ioctl.IOWR(Drm.Base, 0xBC, sizeof(drm_mode_atomic));

    /// <summary>
    /// MODE_ATOMIC. The out-fence properties (their indexes in <paramref name="values"/> are
    /// <paramref name="fenceValueIndexes"/>) are pointed at <paramref name="fenceSlots"/>, where the kernel writes each
    /// fence's fd (or -1) during the call.
    /// </summary>
    public static int Commit(int fd, uint flags, ReadOnlySpan<uint> objects, ReadOnlySpan<uint> counts, ReadOnlySpan<uint> properties,
        Span<ulong> values, ReadOnlySpan<int> fenceValueIndexes, Span<int> fenceSlots, ulong userData)
    {
        fixed (uint* po = objects, pc = counts, pp = properties)
        fixed (ulong* pv = values)
        fixed (int* slots = fenceSlots)
        {
            for (int k = 0; k < fenceValueIndexes.Length; k++)
            {
                pv[fenceValueIndexes[k]] = (ulong)(slots + k);
            }

            var arg = new drm_mode_atomic
            {
                flags = flags,
                count_objs = (uint)objects.Length,
                objs_ptr = (ulong)po,
                count_props_ptr = (ulong)pc,
                props_ptr = (ulong)pp,
                prop_values_ptr = (ulong)pv,
                user_data = userData,
            };
            return Ioctl.Invoke(fd, DRM_IOCTL_MODE_ATOMIC, &arg);
        }
    }
}
