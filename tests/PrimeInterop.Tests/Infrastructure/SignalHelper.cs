using System.Runtime.InteropServices;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// native/signal-helper.c (artifacts/native/libsignal-helper.so): a counting signal handler installed without
/// SA_RESTART, tgkill/gettid, vgem's fence ioctls and a raw, unretried DMA_BUF_IOCTL_SYNC. Every function returns
/// 0 or an errno.
/// </summary>
internal static unsafe class SignalHelper
{
    public const int SIGURG = 23;

    private static readonly IntPtr Library = NativeLibrary.Load(Repo.NativeProgram("libsignal-helper.so"));

    public static int InstallHandler(int signal) => ((delegate* unmanaged<int, int>)Export("pi_install_handler"))(signal);

    public static int RestoreDefault(int signal) => ((delegate* unmanaged<int, int>)Export("pi_restore_default"))(signal);

    /// <summary>How many signals the handler has run for, in all threads.</summary>
    public static long Delivered => ((delegate* unmanaged<long>)Export("pi_delivered"))();

    public static int GetTid() => ((delegate* unmanaged<int>)Export("pi_gettid"))();

    public static int TgKill(int tid, int signal) => ((delegate* unmanaged<int, int, int, int>)Export("pi_tgkill"))(Environment.ProcessId, tid, signal);

    public static int VgemFenceAttach(int drmFd, uint handle, out uint fence)
    {
        uint f;
        int errno = ((delegate* unmanaged<int, uint, uint*, int>)Export("pi_vgem_fence_attach"))(drmFd, handle, &f);
        fence = f;
        return errno;
    }

    public static int VgemFenceSignal(int drmFd, uint fence) => ((delegate* unmanaged<int, uint, int>)Export("pi_vgem_fence_signal"))(drmFd, fence);

    public static int RawSyncStartRead(int dmaBuf) => ((delegate* unmanaged<int, int>)Export("pi_raw_sync_start_read"))(dmaBuf);

    public static int RawSyncEndRead(int dmaBuf) => ((delegate* unmanaged<int, int>)Export("pi_raw_sync_end_read"))(dmaBuf);

    private static IntPtr Export(string name) => NativeLibrary.GetExport(Library, name);
}
