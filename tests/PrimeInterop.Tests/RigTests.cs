using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>The rig itself: things that broke the guest rather than the library.</summary>
public sealed class RigTests
{
    /// <summary>
    /// A NullReferenceException is a hardware fault (SIGSEGV at address 0) that the runtime turns into an exception.
    /// Under QEMU's TCG with SMAP on, such a fault in user space Oopsed the guest kernel and hung the run until the
    /// timeout; rig.sh boots with -cpu max,-smap. In the guest (Category=Kernel) this must pass in milliseconds.
    /// </summary>
    [Fact]
    [Trait(KernelEnv.Category, KernelEnv.Kernel)]
    public void A_hardware_exception_in_the_guest_is_an_ordinary_caught_exception()
    {
        for (int i = 0; i < 3; i++)
        {
            Assert.Throws<NullReferenceException>(() => HashOf(Nothing()!));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static object? Nothing() => null;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int HashOf(object o) => o.GetHashCode(); // a virtual call through a null reference: a real fault

    /// <summary>
    /// Kernel builds take a lock of their own in the cache (not RIG_LOCK, which only orders guests): a second
    /// `rig.sh kernel a` waits for the build in progress, then finds the kernel it made, where it used to remove the
    /// build tree under it. Shown without building anything: the test holds the lock as a build would, in a scratch
    /// cache, puts a kernel there while the second one waits, and lets go.
    /// </summary>
    [Fact]
    public async Task A_second_kernel_build_waits_for_the_first_and_then_finds_its_kernel()
    {
        string rig = Path.Combine(Repo.Root(), "tests", "rig", "rig.sh");
        Assert.SkipUnless(File.Exists("/usr/src/linux-source-6.12.tar.xz") && File.Exists(rig), "needs the rig's kernel A source (rig.sh prereqs)");
        string version = ChildProcess.Run("dpkg-query", ["-W", "-f=${Version}", "linux-source-6.12"]).AssertExitCode().Out.Trim();
        string config = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(rig)!, "kernel-a.config"))))[..12];
        string cache = Directory.CreateTempSubdirectory("primeinterop-rig-cache-").FullName;
        string kernel = Path.Combine(cache, $"kernel-a-{version}-{config}");
        System.Diagnostics.Process? second = null;
        try
        {
            var waited = new List<string>();
            // .NET takes flock(LOCK_EX) on a file it opens with FileShare.None: the lock rig.sh's flock asks for.
            using (new FileStream(Path.Combine(cache, ".build.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
            {
                second = ChildProcess.Start("bash", [rig, "kernel", "a"], new Dictionary<string, string> { ["RIG_CACHE"] = cache });
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(60));
                while (waited.LastOrDefault()?.Contains("waiting for", StringComparison.Ordinal) != true)
                {
                    string? line = await second.StandardError.ReadLineAsync(timeout.Token);
                    Assert.True(line is not null && !line.Contains("building kernel A", StringComparison.Ordinal),
                        $"rig.sh did not wait for the build in progress:\n{string.Join('\n', waited.Append(line ?? "(exited)"))}");
                    waited.Add(line!);
                }

                await Task.Delay(500, timeout.Token);
                Assert.False(second.HasExited, "rig.sh stopped waiting while the lock was held");
                Directory.CreateDirectory(kernel); // what the first build leaves when it is done
                File.WriteAllText(Path.Combine(kernel, "bzImage"), "");
            }

            var result = ChildProcess.Finish(second, TimeSpan.FromSeconds(60)).AssertExitCode();
            Assert.Equal(kernel, result.Out.Trim());
            Assert.Contains("built meanwhile", result.Err, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(cache, "build-a")), "the second rig.sh started a build of its own");
        }
        finally
        {
            if (second is { HasExited: false })
            {
                second.Kill(entireProcessTree: true);
                second.WaitForExit();
            }

            second?.Dispose();
            Directory.Delete(cache, recursive: true);
        }
    }
}
