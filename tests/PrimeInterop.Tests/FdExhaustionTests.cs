using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// With RLIMIT_NOFILE lowered and the fd table full (in a child process), every call that makes an fd fails with a
/// DrmException for EMFILE that names the limit; calls that need no fd (import) still work; nothing leaks, and
/// everything works again once fds are free.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class FdExhaustionTests
{
    private const string ChildMarker = "PRIMEINTEROP_FD_LIMIT_CHILD";

    [Fact]
    [InChildProcess(ChildMarker + "=1")]
    public void At_the_fd_limit_fd_making_calls_fail_clearly_and_recover()
    {
        KernelEnv.RequireVgem();
        if (!ChildTest.IsChild(ChildMarker))
        {
            ChildTest.Run(typeof(FdExhaustionTests), nameof(At_the_fd_limit_fd_making_calls_fail_clearly_and_recover));
            return;
        }

        using var oracle = new LeakOracle();
        string renderPath = KernelEnv.Find("vgem", DrmNodeType.Render)!.Path;
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var source = card.ExportDmaBuf(dumb.Handle))
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        using (var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite))
        {
            var fdMaking = new (string Name, Action Call)[]
            {
                ("export", () => card.ExportDmaBuf(dumb.Handle).Dispose()),
                ("duplicate", () => source.Duplicate().Dispose()),
                ("receive", () =>
                {
                    pair.A.SendWithFds("x"u8, source);
                    using var received = pair.B.ReceiveWithFds(new byte[4]);
                    Assert.Equal(1, received.Count);
                }),
                ("export sync_file", () => source.ExportSyncFile(DmaBufAccess.Read).Dispose()),
                ("open device", () => DrmDevice.Open(renderPath).Dispose()),
            };
            void Import() => render.ImportDmaBuf(source).Dispose();

            // Everything once before the table is full: the JIT and the runtime's lazy state may need fds.
            foreach (var (_, call) in fdMaking)
            {
                call();
            }

            Import();
            _ = Record.Exception((Action)(() => throw DrmException.FromErrno(Interop.Errno.EMFILE, "warm-up", null))); // the exception path, getrlimit too

            var (soft, _) = FdLimit.Get();
            ulong limit = (ulong)LeakOracle.FdTable().Keys.Max() + 16;
            var fillers = new List<SafeFileHandle>();
            var failures = new List<string>();
            FdLimit.SetSoft(limit);
            try
            {
                while (Interop.Libc.DupCloseOnExec((int)devNull.DangerousGetHandle(), out int fd) == 0)
                {
                    fillers.Add(new SafeFileHandle(fd, ownsHandle: true));
                }

                foreach (var (name, call) in fdMaking)
                {
                    Exception? e = Record.Exception(call);
                    if (e is not DrmException { Errno: Interop.Errno.EMFILE } drm || !drm.Message.Contains($"RLIMIT_NOFILE: soft {limit}", StringComparison.Ordinal))
                    {
                        failures.Add($"{name}: expected a DrmException for EMFILE naming RLIMIT_NOFILE {limit}, got {e?.GetType().Name ?? "success"}: {e?.Message}");
                    }
                    else
                    {
                        TestContext.Current.TestOutputHelper?.WriteLine($"{name}: {e.Message}");
                    }
                }

                Import(); // PRIME_FD_TO_HANDLE makes no fd: it works at the limit
            }
            finally
            {
                fillers.ForEach(f => f.Dispose());
                FdLimit.SetSoft(soft);
            }

            Assert.True(failures.Count == 0, string.Join('\n', failures));

            // Everything works again, on the same devices and socket.
            foreach (var (_, call) in fdMaking)
            {
                call();
            }

            Import();
            Assert.Equal(1, card.OpenObjectCount);
            Assert.Equal(0, render.OpenObjectCount);
        }

        oracle.Verify();
    }
}
