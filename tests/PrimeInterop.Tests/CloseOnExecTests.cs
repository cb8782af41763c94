using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>Every fd the library creates is close-on-exec: a child started afterwards inherits none.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class CloseOnExecTests
{
    [Fact]
    public void A_child_process_inherits_none_of_our_fds()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var dumb = card.CreateDumbBuffer(32, 32, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite))
        using (var dup = dmaBuf.Duplicate())
        using (var imported = render.ImportDmaBuf(dmaBuf))
        using (var reexported = render.ExportDmaBuf(imported))
        using (var fence = dmaBuf.ExportSyncFile(DmaBufAccess.Write))
        {
            oracle.ExpectClosedAtEnd(imported);
            int[] ours = [(int)card.FileHandle.DangerousGetHandle(), (int)render.FileHandle.DangerousGetHandle(),
                dmaBuf.FileDescriptor, dup.FileDescriptor, reexported.FileDescriptor, fence.FileDescriptor];
            foreach (int fd in ours)
            {
                Assert.Equal(0, TestLibc.IsCloseOnExec(fd, out bool cloexec));
                Assert.True(cloexec, $"fd {fd} ({Interop.Libc.ReadLink($"/proc/self/fd/{fd}")}) is not close-on-exec");
            }

            // The child lists its own fd table: anything inherited from us would show up there.
            string listing = ChildProcess.Run("/bin/sh", ["-c", "for f in /proc/self/fd/*; do echo \"${f##*/} $(readlink $f)\"; done"])
                .AssertExitCode().Out;
            Assert.Contains("0 ", listing, StringComparison.Ordinal); // the listing itself worked
            Assert.DoesNotContain("dmabuf", listing, StringComparison.Ordinal);
            Assert.DoesNotContain("/dev/dri", listing, StringComparison.Ordinal);
            Assert.DoesNotContain("sync_file", listing, StringComparison.Ordinal);
        }

        oracle.Verify();
    }
}
