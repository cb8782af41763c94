using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>
/// The architectures the definitions in this folder (and the Tmds.LibC structs they use) are checked on: the layout
/// probe (native/layout-probe.c) is compiled for each and compared with the managed types as that architecture's
/// runtime lays them out. Anywhere else a struct, an ioctl number or a flag could be silently wrong, so the calls that
/// first reach the kernel throw instead.
/// </summary>
internal static class Abi
{
    public const string SupportedArchitectures = "x64 (x86-64) and arm64 (aarch64)";

    /// <summary>x86-64, whose <c>struct epoll_event</c> is packed; every other architecture's is naturally aligned.</summary>
    public static readonly bool IsX64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;

    private static readonly bool IsSupported = IsSupportedArchitecture(RuntimeInformation.ProcessArchitecture);

    public static bool IsSupportedArchitecture(Architecture architecture) => architecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>
    /// Throws <see cref="PlatformNotSupportedException"/> on an architecture whose layouts were never checked, first
    /// closing <paramref name="ownedFd"/> (an fd the caller was given to own), if any. Called by the public entry points
    /// before anything touches a layout or Tmds.LibC (which has no assembly for other architectures). A static readonly
    /// flag: tier-1 code compiles the check away.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfUnsupported(int ownedFd = -1)
    {
        if (!IsSupported)
        {
            if (ownedFd >= 0)
            {
                Libc.Close(ownedFd);
            }

            ThrowHelper.ThrowUnsupportedArchitecture(RuntimeInformation.ProcessArchitecture);
        }
    }
}
