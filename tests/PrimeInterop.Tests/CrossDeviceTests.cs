using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>PRIME across drivers: a vgem buffer imported into vkms (kernel A).</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class CrossDeviceTests
{
    [Fact]
    public void Importing_a_vgem_dmabuf_into_vkms_twice_gives_one_buffer_object()
    {
        KernelEnv.RequireCapability("vkms");
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var vkms = KernelEnv.OpenVkms())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var dmaBuf = card.ExportDmaBuf(dumb.Handle))
        using (var second = dmaBuf.Duplicate())
        {
            Assert.True(vkms.PrimeCapabilities.HasFlag(PrimeCapabilities.Import));
            using var a = vkms.ImportDmaBuf(dmaBuf);
            using var b = vkms.ImportDmaBuf(second);
            Assert.True(a.RefersToSameObject(b));
            Assert.Equal(a.Value, b.Value);
            Assert.Equal(2, a.ReferenceCount);
            Assert.Equal(1, vkms.OpenObjectCount);
            using var back = vkms.ExportDmaBuf(a); // vkms hands back the very dma-buf it imported
            Assert.Equal(dmaBuf.Identity, back.Identity);
            oracle.ExpectClosedAtEnd(a);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }
}
