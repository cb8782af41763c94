using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>Proves the tests reach a real kernel: nodes, VERSION, dumb buffer, export, import.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class SmokeTests
{
    [Fact]
    public void Dev_dri_lists_vgem_primary_and_render_nodes()
    {
        KernelEnv.RequireVgem();
        var nodes = DrmNode.Enumerate();
        Assert.Contains(nodes, n => n.DriverName == "vgem" && n.Type == DrmNodeType.Primary && n.Path.StartsWith("/dev/dri/card", StringComparison.Ordinal));
        Assert.Contains(nodes, n => n.DriverName == "vgem" && n.Type == DrmNodeType.Render && n.Path.StartsWith("/dev/dri/renderD", StringComparison.Ordinal));
        var vgem = nodes.Where(n => n.DriverName == "vgem").ToList();
        Assert.Single(vgem.Select(n => n.DeviceKey).Distinct()); // card and render node of one device
    }

    [Fact]
    public void Version_ioctl_names_the_vgem_driver()
    {
        using var render = KernelEnv.OpenVgemRender();
        Assert.Equal("vgem", render.Version.Name);
        Assert.Equal(DrmNodeType.Render, render.NodeType);
        Assert.False(string.IsNullOrEmpty(render.Version.Description));
        Assert.Equal(PrimeCapabilities.Import | PrimeCapabilities.Export, render.PrimeCapabilities);
    }

    [Fact]
    public void Dumb_buffer_on_card_exports_and_imports_on_render()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            using var dumb = card.CreateDumbBuffer(64, 64, 32);
            Assert.Equal(256u, dumb.Pitch);
            Assert.Equal(16384ul, dumb.Size);
            using var dmaBuf = card.ExportDmaBuf(dumb.Handle);
            Assert.Equal(16384, dmaBuf.Size);
            using var imported = render.ImportDmaBuf(dmaBuf);
            Assert.NotEqual(0u, imported.Value);
            oracle.ExpectClosedAtEnd(dumb.Handle);
            oracle.ExpectClosedAtEnd(imported);
        }

        oracle.Verify();
    }

    [Fact]
    public void Vkms_is_found_by_name()
    {
        KernelEnv.RequireCapability("vkms");
        using var vkms = DrmDevice.OpenByDriver("vkms");
        Assert.Equal("vkms", vkms.Version.Name);
        Assert.Equal(DrmNodeType.Primary, vkms.NodeType); // vkms has no render node
    }

    [Fact]
    public void Fault_injection_is_available_under_debugfs()
    {
        KernelEnv.RequireCapability("fault-injection");
        Assert.True(File.Exists("/sys/kernel/debug/failslab/probability"));
        Assert.True(File.Exists("/sys/kernel/debug/fail_page_alloc/probability"));
    }
}
