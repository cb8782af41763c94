using System.Net.Sockets;
using Mono.Unix.Native;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>Multi-plane buffers over sockets, their import, and vkms framebuffers.</summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class DmaBufSharingTests
{
    [Fact]
    public async Task Two_planes_in_one_dmabuf_travel_and_import_as_one_object_with_count_two()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            // NV12 64x64: a 64-byte-stride Y plane of 64 rows, then a CbCr plane of 32 rows, in one buffer.
            using var dumb = card.CreateDumbBuffer(64, 96, 8);
            using var source = card.ExportDmaBuf(dumb.Handle);
            using (var sent = new DmaBufDescription(64, 64, DrmFourcc.Nv12, DmaBufDescription.LinearModifier,
                [new DmaBufPlane(source.Duplicate(), 0, 64), new DmaBufPlane(source.Duplicate(), 64 * 64, 64)]))
            {
                await pair.A.SendDmaBufAsync(sent, TestContext.Current.CancellationToken);
            }

            using var received = await pair.B.ReceiveDmaBufAsync(TestContext.Current.CancellationToken);
            Assert.NotNull(received);
            Assert.Equal((64u, 64u, DrmFourcc.Nv12), (received.Width, received.Height, received.Format));
            Assert.Equal([0u, 4096u], received.Planes.Select(p => p.Offset));
            Assert.All(received.Planes, p => Assert.Equal(source.Identity, p.Buffer.Identity));

            var imported = render.ImportBuffer(received);
            oracle.ExpectClosedAtEnd(imported.Handles[0]);
            Assert.Equal(1, imported.ObjectCount);
            Assert.True(imported.Handles[0].RefersToSameObject(imported.Handles[1]));
            Assert.Equal(2, imported.Handles[0].ReferenceCount);
            imported.Dispose();
            Assert.Equal(0, render.OpenObjectCount);
            oracle.ExpectClosedAtEnd(dumb.Handle);
        }

        oracle.Verify();
    }

    [Fact]
    public void Descriptions_are_validated_field_by_field()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var buf = card.ExportDmaBuf(dumb.Handle))
        {
            DmaBufPlane Plane(uint offset = 0, uint stride = 256) => new(buf, offset, stride);
            var x = DrmFourcc.Xrgb8888;
            Assert.Throws<ArgumentOutOfRangeException>(() => new DmaBufDescription(0, 64, x, 0, [Plane()]));
            Assert.Throws<ArgumentOutOfRangeException>(() => new DmaBufDescription(64, 0, x, 0, [Plane()]));
            Assert.Throws<ArgumentOutOfRangeException>(() => new DmaBufDescription(64, 64, x, 0, []));
            Assert.Throws<ArgumentOutOfRangeException>(() => new DmaBufDescription(64, 64, x, 0, [Plane(), Plane(), Plane(), Plane(), Plane()]));
            var unknown = Assert.Throws<ArgumentException>(() => new DmaBufDescription(64, 64, DrmFourcc.From("ZZZZ"), 0, [Plane()]));
            Assert.Contains("ZZZZ", unknown.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => new DmaBufDescription(64, 64, x, 0, [Plane(), Plane()]));
            var stride = Assert.Throws<ArgumentException>(() => new DmaBufDescription(64, 64, x, 0, [Plane(stride: 200)]));
            Assert.Contains("stride 200", stride.Message, StringComparison.Ordinal);
            var past = Assert.Throws<ArgumentException>(() => new DmaBufDescription(64, 64, x, 0, [Plane(offset: 4096)]));
            Assert.Contains("past the 16384-byte dma-buf", past.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => new DmaBufDescription(64, 65, x, 0, [Plane()]));
            using var ok = new DmaBufDescription(64, 64, x, 0, [new DmaBufPlane(buf.Duplicate(), 0, 256)]);
            Assert.Equal(64u, ok.Width);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_garbled_description_is_refused_and_its_fds_closed()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var buf = card.ExportDmaBuf(dumb.Handle))
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            byte[] wire = new byte[DmaBufDescription.WireSize];
            using (var d = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, 0, [new DmaBufPlane(buf.Duplicate(), 0, 256)]))
            {
                d.Write(wire);
            }

            wire[16] = (byte)'Z'; // the format
            pair.A.SendWithFds(wire, buf);
            var e = await Assert.ThrowsAsync<InvalidDataException>(async () => await pair.B.ReceiveDmaBufAsync(TestContext.Current.CancellationToken));
            Assert.Contains("format", e.Message, StringComparison.OrdinalIgnoreCase);
        }

        oracle.Verify();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_vkms_framebuffer_from_a_vgem_buffer_keeps_its_objects_alive_in_any_dispose_order(bool framebufferFirst)
    {
        KernelEnv.RequireCapability("vkms");
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var vkms = KernelEnv.OpenVkms())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var description = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier,
            [new DmaBufPlane(card.ExportDmaBuf(dumb.Handle), 0, dumb.Pitch)]))
        {
            var imported = vkms.ImportBuffer(description);
            oracle.ExpectClosedAtEnd(imported.Handles[0]);
            var fb = vkms.AddFramebuffer(imported);
            Assert.NotEqual(0u, fb.Id);
            Assert.Equal(2, imported.Handles[0].ReferenceCount); // the import's and the framebuffer's
            if (framebufferFirst)
            {
                fb.Dispose();
                Assert.True(LeakOracle.HandleIsOpen(vkms.FileHandle, imported.Handles[0].Value));
                imported.Dispose();
            }
            else
            {
                uint h = imported.Handles[0].Value;
                imported.Dispose();
                Assert.True(LeakOracle.HandleIsOpen(vkms.FileHandle, h), "the framebuffer must keep its buffer object's handle");
                fb.Dispose();
            }

            Assert.Equal(0, vkms.OpenObjectCount);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_modifier_is_passed_with_DRM_MODE_FB_MODIFIERS_exactly_when_the_driver_supports_them()
    {
        KernelEnv.RequireCapability("vkms");
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var vkms = KernelEnv.OpenVkms())
        using (var dumb = card.CreateDumbBuffer(64, 64, 32))
        using (var description = new DmaBufDescription(64, 64, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
            [new DmaBufPlane(card.ExportDmaBuf(dumb.Handle), 0, dumb.Pitch)]))
        using (var imported = vkms.ImportBuffer(description))
        {
            bool modifiers = vkms.TryGetCapability(DrmCapability.AddFB2Modifiers, out ulong cap) && cap == 1;
            if (modifiers)
            {
                using var fb = vkms.AddFramebuffer(imported);
                Assert.NotEqual(0u, fb.Id);
            }
            else
            {
                var e = Assert.Throws<DrmException>(() => vkms.AddFramebuffer(imported));
                ErrnoAssert.Equal(Interop.Errno.EINVAL, e);
            }

            Assert.Equal(1, imported.Handles[0].ReferenceCount); // a failed ADDFB2 dropped its references
        }

        oracle.Verify();
    }
}
