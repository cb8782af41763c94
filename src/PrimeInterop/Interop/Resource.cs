using System.Runtime.InteropServices;

namespace PrimeInterop.Interop;

/// <summary>getrlimit(2): the process's fd limit, named in EMFILE errors. Tmds.LibC has no binding for it.</summary>
internal static partial class Resource
{
    public const int RLIMIT_NOFILE = 7;

    /// <summary><c>struct rlimit</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
#pragma warning disable CS8981 // the kernel's name
    public struct rlimit
#pragma warning restore CS8981
    {
        public ulong rlim_cur;
        public ulong rlim_max;
    }

    /// <summary>The soft and hard RLIMIT_NOFILE, or null when the call fails. Allocates no fd.</summary>
    public static (ulong Soft, ulong Hard)? OpenFileLimit() =>
        GetRlimit(RLIMIT_NOFILE, out rlimit limit) == 0 ? (limit.rlim_cur, limit.rlim_max) : null;

    [LibraryImport(Libraries.Libc, EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRlimit(int resource, out rlimit limit);
}
