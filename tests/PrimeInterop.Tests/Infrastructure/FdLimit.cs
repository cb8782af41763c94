using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>setrlimit(RLIMIT_NOFILE) for the fd-exhaustion test (the library only reads the limit).</summary>
internal static unsafe partial class FdLimit
{
    public static (ulong Soft, ulong Hard) Get() => Resource.OpenFileLimit() ?? throw new InvalidOperationException("getrlimit failed");

    public static void SetSoft(ulong soft)
    {
        var limit = new Resource.rlimit { rlim_cur = soft, rlim_max = Get().Hard };
        Assert.True(SetRlimit(Resource.RLIMIT_NOFILE, &limit) == 0, $"setrlimit(RLIMIT_NOFILE, {soft}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRlimit(int resource, Resource.rlimit* limit);
}
