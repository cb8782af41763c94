using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Error paths under real kernel allocation failures (failslab, kernel A): every operation either works or fails
/// with a DrmException, and nothing leaks — no fd, and no kernel handle (checked by the numbers the kernel hands
/// out next: it always takes the lowest free one).
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class FaultInjectionTests
{
    // The runtime maps memory on the calling thread when it writes code (W^X: the JIT, tiering's call-counting
    // stubs); a failure injected there aborts the process instead of testing us. So the test runs in the child test
    // process (ChildTest) with W^X and tiering off, where, once warmed up, this thread allocates only in our own calls.
    private const string WriteXorExecute = "DOTNET_EnableWriteXorExecute";

    /// <summary>Fails the next slab allocation of this thread, once per <see cref="Arm"/>.</summary>
    private sealed class FailSlab : IDisposable
    {
        private const string Dir = "/sys/kernel/debug/failslab/";
        private readonly SafeFileHandle _makeItFail;

        public FailSlab()
        {
            Set("task-filter", "Y");      // only threads that asked for it
            Set("ignore-gfp-wait", "N");  // sleeping allocations (GFP_KERNEL) too, not only atomic ones
            Set("verbose", "0");
            Set("interval", "1");
            Set("space", "0");
            Set("times", "0");
            Set("probability", "100");
            // Opened once, on this thread, so that arming and disarming allocate nothing themselves.
            _makeItFail = File.OpenHandle("/proc/thread-self/make-it-fail", FileMode.Open, FileAccess.Write);
        }

        public void Arm()
        {
            Set("times", "1");
            RandomAccess.Write(_makeItFail, "1"u8, 0);
        }

        public void Disarm()
        {
            RandomAccess.Write(_makeItFail, "0"u8, 0);
            Set("times", "0");
        }

        public void Dispose()
        {
            Disarm();
            Set("probability", "0");
            _makeItFail.Dispose();
        }

        private static void Set(string name, string value) => File.WriteAllText(Dir + name, value);
    }

    [Fact]
    [InChildProcess(WriteXorExecute + "=0", "DOTNET_TieredCompilation=0", Requires = ["fault-injection", "vkms"])]
    public void Kernel_allocation_failures_surface_as_DrmExceptions_and_leak_nothing()
    {
        KernelEnv.RequireCapability("fault-injection");
        KernelEnv.RequireCapability("vkms");
        if (Environment.GetEnvironmentVariable(WriteXorExecute) != "0")
        {
            ChildTest.Run(typeof(FaultInjectionTests), nameof(Kernel_allocation_failures_surface_as_DrmExceptions_and_leak_nothing));
            return;
        }
        const int Rounds = 25;
        var injected = new Dictionary<string, int>();
        var succeeded = new Dictionary<string, int>();
        var errnos = new HashSet<string>();

        bool warmingUp = true;
        void Attempt(FailSlab fault, string operation, Action action)
        {
            if (warmingUp)
            {
                // Unarmed, once: the JIT maps memory for each method it compiles on this thread, and a failure
                // injected there aborts the runtime instead of testing us.
                action();
                return;
            }

            fault.Arm();
            try
            {
                action();
                succeeded[operation] = succeeded.GetValueOrDefault(operation) + 1;
            }
            catch (DrmException e)
            {
                injected[operation] = injected.GetValueOrDefault(operation) + 1;
                errnos.Add($"{e.Operation}: {e.ErrnoName}");
            }
            finally
            {
                fault.Disarm();
            }
        }

        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var vkms = KernelEnv.OpenVkms())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var source = card.ExportDmaBuf(dumb.Handle))
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        using (var fault = new FailSlab())
        {
            for (int i = 0; i <= Rounds; i++, warmingUp = false)
            {
                Attempt(fault, "create dumb", () => card.CreateDumbBuffer(64, 64, 32).Dispose());
                using (var fresh = card.CreateDumbBuffer(64, 64, 32)) // a first export allocates the dma-buf
                {
                    Attempt(fault, "export", () => card.ExportDmaBuf(fresh.Handle).Dispose());
                }

                using (var fresh = card.CreateDumbBuffer(64, 64, 32))
                {
                    Attempt(fault, "export scoped", () =>
                    {
                        int bodies = 0;
                        card.ExportScoped(fresh.Handle, ref bodies, static (scoped BorrowedDmaBuf fd, ref int n) => n++);
                        Assert.Equal(1, bodies);
                    });
                }

                // Across devices the importer allocates (attachment, sg table, object); vgem into itself would not.
                Attempt(fault, "import into vkms", () => vkms.ImportDmaBuf(source).Dispose());
                Attempt(fault, "import scoped into vkms", () =>
                {
                    int bodies = 0;
                    vkms.ImportScoped(source, ref bodies, static (scoped BorrowedGemHandle h, ref int n) => n++);
                    Assert.Equal(1, bodies);
                });
                Attempt(fault, "send fd", () =>
                {
                    pair.A.SendWithFds("x"u8, source);
                    using var received = pair.B.ReceiveWithFds(new byte[4]); // closes the fd
                    Assert.Equal(1, received.Count);
                });
            }

            Console.WriteLine(
                $"injected failures: {string.Join(", ", injected.Select(kv => $"{kv.Key} {kv.Value}"))}; " +
                $"successes: {string.Join(", ", succeeded.Select(kv => $"{kv.Key} {kv.Value}"))}; errors seen: {string.Join("; ", errnos)}");
            foreach (string operation in new[] { "create dumb", "export", "export scoped", "import into vkms", "import scoped into vkms", "send fd" })
            {
                Assert.True(injected.GetValueOrDefault(operation) > 0, $"no failure was injected into '{operation}'");
            }

            Assert.Equal(0, vkms.OpenObjectCount);
            Assert.Equal(1, card.OpenObjectCount);

            // No handle leaked in either file: the kernel gives out the lowest free number (idr_alloc from 1).
            using var next = card.CreateDumbBuffer(16, 16, 32);
            Assert.Equal(dumb.Handle.Value + 1, next.Handle.Value);
            using var imported = vkms.ImportDmaBuf(source);
            Assert.Equal(1u, imported.Value);
        }

        oracle.Verify();
    }
}
