using System.Runtime.InteropServices;

#pragma warning disable CS8981

namespace PrimeInterop.Interop;

/// <summary>
/// vgem's fence ioctls (include/uapi/drm/vgem_drm.h): attach an unsignalled fence to a buffer's reservation
/// object, and signal it later. The tests use them to make real pending fences; vgem signals a fence by itself
/// after 10 seconds (VGEM_FENCE_TIMEOUT).
/// </summary>
internal static unsafe class Vgem
{
    public const uint DRM_COMMAND_BASE = 0x40;
    public const uint VGEM_FENCE_WRITE = 0x1;

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_vgem_fence_attach
    {
        public uint handle;
        public uint flags;
        public uint out_fence;
        public uint pad;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct drm_vgem_fence_signal
    {
        public uint fence;
        public uint flags;
    }

    public static readonly uint DRM_IOCTL_VGEM_FENCE_ATTACH = Ioctl.IOWR(Drm.Base, DRM_COMMAND_BASE + 0x1, sizeof(drm_vgem_fence_attach));
    public static readonly uint DRM_IOCTL_VGEM_FENCE_SIGNAL = Ioctl.IOW(Drm.Base, DRM_COMMAND_BASE + 0x2, sizeof(drm_vgem_fence_signal));

    public static int AttachFence(int device, uint handle, bool write, out uint fence)
    {
        var arg = new drm_vgem_fence_attach { handle = handle, flags = write ? VGEM_FENCE_WRITE : 0 };
        int errno = Ioctl.Invoke(device, DRM_IOCTL_VGEM_FENCE_ATTACH, &arg);
        fence = arg.out_fence;
        return errno;
    }

    public static int SignalFence(int device, uint fence)
    {
        var arg = new drm_vgem_fence_signal { fence = fence };
        return Ioctl.Invoke(device, DRM_IOCTL_VGEM_FENCE_SIGNAL, &arg);
    }
}
