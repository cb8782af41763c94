using System.Runtime.InteropServices;

namespace WlShow;

/// <summary>kill(2), which .NET does not offer (Process.Kill sends SIGKILL only).</summary>
internal static class Signals
{
    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when the process is gone.</summary>
    public static bool Send(int pid, int signal) => Kill(pid, signal) == 0;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int pid, int signal);
}
