using System.Runtime.CompilerServices;
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
}
