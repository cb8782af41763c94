using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>Throws live here so that the calling paths stay small.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void Throw(int errno, string operation, string? target, uint? gemHandle = null, int? fd = null, string? hint = null) =>
        throw DrmException.FromErrno(errno, operation, target, gemHandle, fd, hint);

    /// <summary>Throws when <paramref name="errno"/> is not 0.</summary>
    public static void ThrowIfError(int errno, string operation, string? target, uint? gemHandle = null, int? fd = null, string? hint = null)
    {
        if (errno != 0)
        {
            Throw(errno, operation, target, gemHandle, fd, hint);
        }
    }

    [DoesNotReturn]
    public static void ThrowUnsupportedArchitecture(Architecture architecture) => throw UnsupportedArchitecture(architecture);

    public static PlatformNotSupportedException UnsupportedArchitecture(Architecture architecture) =>
        new($"PrimeInterop supports Linux on {Abi.SupportedArchitectures} only; this process is {architecture.ToString().ToLowerInvariant()}, "
            + "whose kernel and libc layouts it was never checked against.");
}
