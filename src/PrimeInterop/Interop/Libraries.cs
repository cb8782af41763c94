namespace PrimeInterop.Interop;

/// <summary>
/// The one native library the bindings call, and the one way errno is read after a call, in two shapes:
/// <list type="bullet">
/// <item>A binding declared <c>SetLastError = true</c> (this library's <c>[LibraryImport]</c>s, and Tmds.LibC's
/// DllImports, which declare it for every call made through them here) is read with
/// <c>Marshal.GetLastPInvokeError()</c>: the errno its marshalling stub saved right after the call.</item>
/// <item>The per-frame syscalls (ioctl, close, sendmsg, recvmsg, and the fence waits' epoll_ctl and epoll_wait) are
/// bound without that stub (it costs a measurable
/// share of a frame), with blittable arguments only, so the runtime calls libc directly; their errno is read with
/// <c>Marshal.GetLastSystemError()</c> as the first thing after the call returned -1.</item>
/// </list>
/// Never GetLastPInvokeError after a binding without SetLastError: it returns whatever an earlier call saved (Tmds.LibC
/// declares poll that way, so poll is bound here). ErrnoConventionTests checks every binding against this.
/// </summary>
internal static class Libraries
{
    /// <summary>glibc.</summary>
    public const string Libc = "libc.so.6";
}
