using System.Runtime.InteropServices;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// KMS against the real kernel: vkms (kernel A; kernel B lacks it and skips by that name) for resources, properties,
/// blobs, atomic commits, page-flip events, CRCs and writeback; vgem (both kernels) for DRM master and for what a
/// driver without modesetting answers. Each test ends with no fd, GEM handle or framebuffer left.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class KmsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Vkms_lists_its_crtc_connectors_encoders_and_planes()
    {
        KernelEnv.RequireCapability("vkms");
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVkms())
        {
            // Before the client capabilities: no writeback connector, and only overlay planes (none, unless vkms has them).
            DrmResources plain = card.GetResources();
            Assert.DoesNotContain(plain.Connectors.Select(card.GetConnector), c => c.Type == DrmConnectorType.Writeback);
            Assert.All(card.GetPlanes(), p => Assert.Equal(DrmPlaneType.Overlay, p.Type));

            card.SetClientCapability(DrmClientCapability.Atomic);
            card.SetClientCapability(DrmClientCapability.WritebackConnectors);
            DrmResources res = card.GetResources();
            Assert.Single(res.Crtcs);
            Assert.Equal(plain.Connectors.Count + 1, res.Connectors.Count);
            Assert.Empty(res.Framebuffers);
            Assert.True(res.MaxWidth >= 1024 && res.MaxHeight >= 768, $"{res.MaxWidth}x{res.MaxHeight}");

            var connectors = res.Connectors.Select(card.GetConnector).ToList();
            DrmConnector output = connectors.Single(c => c.Type == DrmConnectorType.Virtual);
            Assert.Equal(DrmConnectionStatus.Connected, output.Status);
            Assert.Equal("Virtual-1", output.Name);
            Assert.Contains(output.Modes, m => m.IsPreferred && (m.HDisplay, m.VDisplay) == (1024, 768));
            Assert.Contains(output.Modes, m => m.Name == "640x480" && m.VRefresh == 60 && m.Clock > 0 && m.HTotal > m.HDisplay);
            Assert.Single(connectors, c => c.Type == DrmConnectorType.Writeback);
            Assert.All(connectors, c => Assert.Subset(res.Encoders.ToHashSet(), c.Encoders.ToHashSet()));

            DrmCrtc crtc = card.GetCrtc(res.Crtcs[0]);
            Assert.Equal(0, crtc.Index);
            Assert.All(res.Encoders.Select(card.GetEncoder), e => Assert.True(crtc.IsIn(e.PossibleCrtcs), e.ToString()));

            IReadOnlyList<DrmPlane> planes = card.GetPlanes();
            DrmPlane primary = planes.Single(p => p.Type == DrmPlaneType.Primary);
            Assert.Single(planes, p => p.Type == DrmPlaneType.Cursor);
            Assert.All(planes, p => Assert.True(p.CanUse(crtc), p.ToString()));
            Assert.Contains(DrmFourcc.Xrgb8888, primary.Formats);
            Assert.Contains(DrmFourcc.Argb8888, primary.Formats);

            // Errors name the operation, the object and the errno.
            var e = Assert.Throws<DrmException>(() => card.GetConnector(crtc.Id)); // a CRTC's id is no connector's
            ErrnoAssert.Equal(Errno.ENOENT, e);
            Assert.Contains($"DRM_IOCTL_MODE_GETCONNECTOR on {card.Path} [CONNECTOR:{crtc.Id}] failed: ENOENT", e.Message);
            ErrnoAssert.Equal(Errno.ENOENT, Assert.Throws<DrmException>(() => card.GetPlane(crtc.Id)));
        }

        oracle.Verify();
    }

    [Fact]
    public void Properties_are_found_by_name_with_their_kinds_ranges_enums_and_blobs()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        {
            DrmObjectProperties plane = scene.PrimaryProperties;
            DrmProperty type = plane.GetProperty("type");
            Assert.Equal((DrmPropertyKind.Enum, true), (type.Kind, type.IsImmutable));
            Assert.Equal(["Overlay", "Primary", "Cursor"], type.Enums.Select(v => v.Name));
            Assert.Equal("Primary", type.NameOf(plane.GetValue("type")));

            DrmProperty rotation = plane.GetProperty("rotation");
            Assert.Equal(DrmPropertyKind.Bitmask, rotation.Kind);
            Assert.Equal((1UL, 0x20UL), (rotation.ValueOf("rotate-0"), rotation.ValueOf("reflect-y"))); // DRM_MODE_ROTATE_0, DRM_MODE_REFLECT_Y
            Assert.Equal(rotation.ValueOf("rotate-0"), plane.GetValue("rotation")); // the scene reset it
            Assert.Contains("reflect-y", Assert.Throws<ArgumentException>(() => rotation.ValueOf("upside-down")).Message);

            DrmProperty fbId = plane.GetProperty("FB_ID");
            Assert.Equal((DrmPropertyKind.ObjectId, DrmObjectType.Framebuffer, true), (fbId.Kind, fbId.ObjectType, fbId.IsAtomic));
            Assert.Equal(DrmObjectType.Crtc, plane.GetProperty("CRTC_ID").ObjectType);
            Assert.Equal((0UL, (ulong)uint.MaxValue), plane.GetProperty("SRC_X").Range);
            Assert.Equal(((long)int.MinValue, (long)int.MaxValue), plane.GetProperty("CRTC_X").SignedRange);
            Assert.Throws<InvalidOperationException>(() => plane.GetProperty("CRTC_X").Range);

            DrmProperty inFormats = plane.GetProperty("IN_FORMATS");
            Assert.Equal((DrmPropertyKind.Blob, true), (inFormats.Kind, inFormats.IsImmutable));
            IReadOnlyList<DrmFormat> formats = DrmFormat.ParseInFormats(scene.Card.GetPropertyBlob((uint)plane.GetValue("IN_FORMATS")));
            Assert.Contains(new DrmFormat(DrmFourcc.Xrgb8888, 0), formats); // DRM_FORMAT_MOD_LINEAR
            Assert.Equal(scene.Primary.Formats.ToHashSet(), formats.Select(f => f.Code).ToHashSet());

            DrmObjectProperties writeback = scene.WritebackProperties;
            Assert.Equal(DrmObjectType.Framebuffer, writeback.GetProperty("WRITEBACK_FB_ID").ObjectType);
            Assert.Equal((0UL, ulong.MaxValue), writeback.GetProperty("WRITEBACK_OUT_FENCE_PTR").Range);
            byte[] pixelFormats = scene.Card.GetPropertyBlob((uint)writeback.GetValue("WRITEBACK_PIXEL_FORMATS"));
            Assert.Contains(DrmFourcc.Xrgb8888.Value, MemoryMarshal.Cast<byte, uint>(pixelFormats).ToArray());

            Assert.Equal(DrmPropertyKind.Blob, scene.CrtcProperties.GetProperty("MODE_ID").Kind);
            Assert.Equal((0UL, 1UL), scene.CrtcProperties.GetProperty("ACTIVE").Range);
            Assert.Same(fbId, scene.Card.GetProperty(fbId.Id)); // a device reads each description once

            var missing = Assert.Throws<KeyNotFoundException>(() => plane.GetProperty("NO_SUCH_PROPERTY"));
            Assert.Contains($"[PLANE:{scene.Primary.Id}] has no property 'NO_SUCH_PROPERTY'", missing.Message);
            Assert.Contains("FB_ID", missing.Message);

            // Another file without the atomic capability does not see the atomic-only properties, and is told why.
            using var other = KernelEnv.OpenVkms();
            DrmObjectProperties legacy = other.GetProperties(scene.Primary.Id, DrmObjectType.Plane);
            Assert.True(legacy.Contains("type"));
            Assert.Contains("DrmClientCapability.Atomic", Assert.Throws<KeyNotFoundException>(() => legacy.GetProperty("FB_ID")).Message);
            var wrongType = Assert.Throws<DrmException>(() => other.GetProperties(scene.Primary.Id, DrmObjectType.Crtc));
            ErrnoAssert.Equal(Errno.ENOENT, wrongType);
            Assert.Contains($"[CRTC:{scene.Primary.Id}]", wrongType.Message);
        }

        oracle.Verify();
    }

    [Fact]
    public void A_property_blob_round_trips_holds_its_file_and_is_gone_after_dispose()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        {
            DrmPropertyBlob mode = scene.Card.CreatePropertyBlob(scene.Mode);
            Assert.Equal(68, mode.Length); // sizeof(struct drm_mode_modeinfo)
            DrmModeInfo back = DrmModeInfo.FromBytes(scene.Card.GetPropertyBlob(mode.Id));
            Assert.Equal(scene.Mode, back);
            Assert.Equal("640x480", back.Name);
            uint id = mode.Id;
            mode.Dispose();
            mode.Dispose();
            var gone = Assert.Throws<DrmException>(() => scene.Card.GetPropertyBlob(id));
            ErrnoAssert.Equal(Errno.ENOENT, gone);
            Assert.Contains($"[BLOB:{id}]", gone.Message);

            // A blob made by a device disposed before it keeps that file open (the kernel would destroy it on close).
            byte[] data = [1, 2, 3, 4, 5];
            var device = KernelEnv.OpenVkms();
            DrmPropertyBlob owned = device.CreatePropertyBlob(data);
            device.Dispose();
            Assert.Equal(data, scene.Card.GetPropertyBlob(owned.Id));
            owned.Dispose();
            ErrnoAssert.Equal(Errno.ENOENT, Assert.Throws<DrmException>(() => scene.Card.GetPropertyBlob(owned.Id)));

            Assert.Throws<ArgumentException>(() => scene.Card.CreatePropertyBlob([]));

            uint abandoned = CreateAndDrop(scene.Card, data);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            ErrnoAssert.Equal(Errno.ENOENT, Assert.Throws<DrmException>(() => scene.Card.GetPropertyBlob(abandoned))); // its finalizer destroyed it
        }

        oracle.Verify(); // the disposed device's fd was closed with its blob
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static uint CreateAndDrop(DrmDevice card, byte[] data) => card.CreatePropertyBlob(data).Id;

    [Fact]
    public void A_test_only_commit_is_accepted_and_refused_ones_name_the_errno_and_the_request()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        {
            using (var picture = scene.CreatePicture(VkmsScene.Asymmetric))
            using (var small = scene.Card.CreateDumbBuffer(64, 64, 32))
            using (var fb = scene.Card.AddFramebuffer(picture, DrmFourcc.Xrgb8888))
            using (var smallFb = scene.Card.AddFramebuffer(small, DrmFourcc.Xrgb8888))
            using (var mode = scene.Card.CreatePropertyBlob(scene.Mode))
            {
                var request = new DrmAtomicRequest();
                scene.AddModeset(request, mode);
                scene.AddPrimary(request, fb);
                scene.Card.CommitAtomic(request, DrmAtomicCommitFlags.TestOnly | DrmAtomicCommitFlags.AllowModeset);
                Assert.Null(scene.Card.GetCrtc(scene.Crtc.Id).Mode); // a test changes nothing

                var modeset = Assert.Throws<DrmException>(() => scene.Card.CommitAtomic(request, DrmAtomicCommitFlags.TestOnly));
                ErrnoAssert.Equal(Errno.EINVAL, modeset);
                Assert.Contains($"DRM_IOCTL_MODE_ATOMIC on {scene.Card.Path} failed: EINVAL", modeset.Message);
                Assert.Contains("needs AllowModeset", modeset.Message);
                Assert.Contains($"object {scene.Primary.Id}: FB_ID={fb.Id} CRTC_ID={scene.Crtc.Id}", modeset.Message);

                var foreign = new DrmAtomicRequest();
                foreign.Add(scene.Primary.Id, scene.CrtcProperties.GetProperty("ACTIVE"), 1); // a CRTC's property on a plane
                ErrnoAssert.Equal(Errno.ENOENT, Assert.Throws<DrmException>(() => scene.Card.CommitAtomic(foreign, DrmAtomicCommitFlags.TestOnly)));
                Assert.Throws<ArgumentException>(() => scene.Card.CommitAtomic(request, DrmAtomicCommitFlags.TestOnly | DrmAtomicCommitFlags.PageFlipEvent));

                using (var other = KernelEnv.OpenVkms())
                {
                    other.SetClientCapability(DrmClientCapability.Atomic);
                    Assert.False(other.IsMaster);
                    var denied = Assert.Throws<DrmException>(() => other.CommitAtomic(request, DrmAtomicCommitFlags.TestOnly | DrmAtomicCommitFlags.AllowModeset));
                    ErrnoAssert.Equal(Errno.EACCES, denied);
                    Assert.True(denied.IsPermissionDenied);
                    Assert.Contains("not DRM master", denied.Message);
                }

                // A refused commit that asked for an out-fence leaves no fd behind (the oracle checks) and no fence to take:
                // vkms refuses a writeback target that is not the mode's size.
                var writeback = new DrmAtomicRequest();
                scene.AddModeset(writeback, mode, toOutput: false);
                scene.AddPrimary(writeback, fb);
                writeback.AddWriteback(scene.WritebackProperties, scene.Crtc.Id, smallFb);
                ErrnoAssert.Equal(Errno.EINVAL, Assert.Throws<DrmException>(() => scene.Card.CommitAtomic(writeback, DrmAtomicCommitFlags.AllowModeset)));
                Assert.Throws<InvalidOperationException>(() => writeback.TakeOutFence(scene.Writeback.Id));
            }

            scene.AssertNoFramebuffers();
        }

        oracle.Verify();
    }

    [Fact]
    public async Task A_vgem_buffer_is_scanned_out_and_flipped_with_events_awaited_through_the_poller()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        using (var vgem = KernelEnv.OpenVgemCard())
        {
            int deviceFramebuffers = scene.DeviceFramebufferCount();
            using (var first = vgem.CreateDumbBuffer(scene.Width, scene.Height, 32))
            using (var second = vgem.CreateDumbBuffer(scene.Width, scene.Height, 32))
            using (var one = new DmaBufDescription(scene.Width, scene.Height, DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier,
                [new DmaBufPlane(vgem.ExportDmaBuf(first.Handle), 0, first.Pitch)]))
            using (var two = new DmaBufDescription(scene.Width, scene.Height, DrmFourcc.Xrgb8888, DmaBufDescription.InvalidModifier,
                [new DmaBufPlane(vgem.ExportDmaBuf(second.Handle), 0, second.Pitch)]))
            using (var imported1 = scene.Card.ImportBuffer(one))
            using (var imported2 = scene.Card.ImportBuffer(two))
            using (var fb1 = scene.Card.AddFramebuffer(imported1))
            using (var fb2 = scene.Card.AddFramebuffer(imported2))
            using (var mode = scene.Card.CreatePropertyBlob(scene.Mode))
            {
                oracle.ExpectClosedAtEnd(imported1.Handles[0]);
                oracle.ExpectClosedAtEnd(imported2.Handles[0]);
                Assert.Equal(deviceFramebuffers + 2, scene.DeviceFramebufferCount());
                Assert.Equal([fb1.Id, fb2.Id], scene.Card.GetResources().Framebuffers.Order());

                var request = new DrmAtomicRequest();
                scene.AddModeset(request, mode);
                scene.AddPrimary(request, fb1);
                DrmEvent set = await scene.CommitAndAwaitFlipAsync(request, DrmAtomicCommitFlags.AllowModeset, 0x5e7);
                DrmCrtc on = scene.Card.GetCrtc(scene.Crtc.Id);
                Assert.Equal((scene.Mode, fb1.Id), (on.Mode, on.FramebufferId));
                uint modeId = (uint)scene.Card.GetProperties(scene.Crtc.Id, DrmObjectType.Crtc).GetValue("MODE_ID");
                Assert.Equal(scene.Mode, DrmModeInfo.FromBytes(scene.Card.GetPropertyBlob(modeId)));

                // A flip: the wait is pending on the poller before the commit, and the commit completes it.
                ValueTask<DrmEvent> pending = scene.Card.ReadEventAsync(Patience, Ct);
                Assert.False(pending.IsCompleted);
                request.Clear();
                request.Add(scene.PrimaryProperties, "FB_ID", fb2.Id);
                scene.Card.CommitAtomic(request, DrmAtomicCommitFlags.Nonblock | DrmAtomicCommitFlags.PageFlipEvent, 0xf11);
                DrmEvent flip = await pending;
                Assert.Equal((DrmEventType.FlipComplete, 0xf11UL, scene.Crtc.Id), (flip.Type, flip.UserData, flip.CrtcId));
                Assert.True(flip.Sequence > set.Sequence && flip.Timestamp > set.Timestamp, $"{set} then {flip}");
                Assert.Equal(fb2.Id, scene.Card.GetPlane(scene.Primary.Id).FramebufferId);
                Assert.False(scene.Card.TryReadEvent(out _)); // one event per CRTC per commit
            }

            scene.AssertNoFramebuffers();
            Assert.Equal(deviceFramebuffers, scene.DeviceFramebufferCount());
            Assert.Equal(0, scene.Card.OpenObjectCount);
        }

        oracle.Verify();
    }

    // A compositor's steady state, frame after frame: a client's buffer (vgem, imported into vkms) awaited for its
    // fence, its framebuffer committed without blocking, the flip's event awaited. The library's side of it allocates
    // nothing, with and without a token and a timeout, whichever pool threads the continuations land on.
    [Fact]
    public async Task A_frame_of_fence_wait_commit_and_flip_event_allocates_nothing()
    {
        const int Frames = 80, WarmUp = 20;
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        using (var vgem = KernelEnv.OpenVgemCard())
        {
            DumbBuffer[] dumbs = [vgem.CreateDumbBuffer(scene.Width, scene.Height, 32), vgem.CreateDumbBuffer(scene.Width, scene.Height, 32)];
            DmaBufDescription[] descriptions = [.. dumbs.Select(d => new DmaBufDescription(scene.Width, scene.Height, DrmFourcc.Xrgb8888,
                DmaBufDescription.InvalidModifier, [new DmaBufPlane(vgem.ExportDmaBuf(d.Handle), 0, d.Pitch)]))];
            ImportedBuffer[] imported = [.. descriptions.Select(scene.Card.ImportBuffer)];
            Framebuffer[] framebuffers = [.. imported.Select(scene.Card.AddFramebuffer)];
            try
            {
                using (var mode = scene.Card.CreatePropertyBlob(scene.Mode))
                {
                    var on = new DrmAtomicRequest();
                    scene.AddModeset(on, mode);
                    scene.AddPrimary(on, framebuffers[1]);
                    await scene.CommitAndAwaitFlipAsync(on, DrmAtomicCommitFlags.AllowModeset, 1);
                }

                DrmProperty fbId = scene.PrimaryProperties.GetProperty("FB_ID");
                var request = new DrmAtomicRequest();
                ulong userData = 1;
                using var cts = new CancellationTokenSource();
                foreach (bool withToken in (bool[])[false, true])
                {
                    // Per step (fence wait, commit, event wait), every thread's bytes; the test's own allocations (the
                    // fence objects) are outside the steps. The event wait idles about 16 ms for its vblank, long enough
                    // for the process's other threads to allocate now and then (the thread pool adding a worker, the
                    // test runner): what the library allocates comes with every frame, so one batch in up to three with
                    // no byte in any step is the proof, and the failure lists every batch.
                    var batches = new List<long[]>();
                    for (int batch = 0; batch < 3 && (batches.Count == 0 || batches[^1].Any(b => b != 0)); batch++)
                    {
                        batches.Add(await Task.Run(async () =>
                        {
                            var steps = new long[3];
                            CancellationToken token = withToken ? cts.Token : CancellationToken.None;
                            TimeSpan timeout = withToken ? Patience : Timeout.InfiniteTimeSpan;
                            for (int i = 0; i < WarmUp + Frames; i++)
                            {
                                int k = i & 1;
                                using var fence = VgemFence.Attach(dumbs[k].Handle, DmaBufAccess.Write);
                                long t0 = GC.GetTotalAllocatedBytes(precise: true);
                                ValueTask ready = descriptions[k].Planes[0].Buffer.WaitReadyAsync(DmaBufAccess.Read, timeout, token);
                                fence.Signal();
                                await ready;
                                long t1 = GC.GetTotalAllocatedBytes(precise: true);
                                request.Clear();
                                request.Add(scene.Primary.Id, fbId, framebuffers[k].Id);
                                scene.Card.CommitAtomic(request, DrmAtomicCommitFlags.Nonblock | DrmAtomicCommitFlags.PageFlipEvent, ++userData);
                                long t2 = GC.GetTotalAllocatedBytes(precise: true);
                                DrmEvent flip = await scene.Card.ReadEventAsync(timeout, token);
                                long t3 = GC.GetTotalAllocatedBytes(precise: true);
                                if (flip.UserData != userData)
                                {
                                    throw new InvalidOperationException($"frame {userData} got {flip}");
                                }

                                if (i >= WarmUp)
                                {
                                    steps[0] += t1 - t0;
                                    steps[1] += t2 - t1;
                                    steps[2] += t3 - t2;
                                }
                            }

                            return steps;
                        }, Ct));
                    }

                    string what = string.Join("; ", batches.Select(b => $"fence wait {b[0]} B, commit {b[1]} B, event wait {b[2]} B"));
                    Measurements.Record($"a frame ({(withToken ? "token and timeout" : "no token")}), batches of {Frames} frames: {what}");
                    Assert.True(batches[^1].All(b => b == 0), $"{(withToken ? "with a token and a timeout" : "without a token")}, {batches.Count} batches of {Frames} frames: {what}");
                }
            }
            finally
            {
                scene.Reset();
                Array.ForEach(framebuffers, f => f.Dispose());
                Array.ForEach(imported, b => b.Dispose());
                Array.ForEach(descriptions, d => d.Dispose());
                Array.ForEach(dumbs, d => d.Dispose());
            }

            Assert.Equal(0, scene.Card.OpenObjectCount);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Crcs_are_equal_for_identical_pixels_and_differ_for_other_or_reflected_ones()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        {
            int h = (int)scene.Height;
            using (var a = scene.CreatePicture(VkmsScene.Asymmetric))
            using (var b = scene.CreatePicture(VkmsScene.Asymmetric))
            using (var c = scene.CreatePicture((x, y) => VkmsScene.Asymmetric(x, y) ^ (x == 300 && y == 200 ? 0x010000u : 0)))
            using (var upsideDown = scene.CreatePicture((x, y) => VkmsScene.Asymmetric(x, h - 1 - y)))
            using (var fbA = scene.Card.AddFramebuffer(a, DrmFourcc.Xrgb8888))
            using (var fbB = scene.Card.AddFramebuffer(b, DrmFourcc.Xrgb8888))
            using (var fbC = scene.Card.AddFramebuffer(c, DrmFourcc.Xrgb8888))
            using (var fbUpsideDown = scene.Card.AddFramebuffer(upsideDown, DrmFourcc.Xrgb8888))
            using (var mode = scene.Card.CreatePropertyBlob(scene.Mode))
            {
                var request = new DrmAtomicRequest();
                scene.AddModeset(request, mode);
                scene.AddPrimary(request, fbA);
                DrmEvent set = await scene.CommitAndAwaitFlipAsync(request, DrmAtomicCommitFlags.AllowModeset, 1);
                using DrmCrcCapture capture = scene.Card.OpenCrcCapture(scene.Crtc);
                DrmCrc crcA = await capture.ReadAfterAsync(set.Sequence, Patience, Ct);
                int dataFd = LeakOracle.FdTable().Single(f => f.Value.EndsWith("/crtc-0/crc/data", StringComparison.Ordinal)).Key; // dri/N links to dri/<unique>
                ErrnoAssert.Equal(0, TestLibc.IsCloseOnExec(dataFd, out bool cloexec));
                Assert.True(cloexec, $"{capture.Path} is open without close-on-exec");

                async Task<DrmCrc> Show(Framebuffer fb, ulong rotation, ulong tag)
                {
                    request.Clear();
                    scene.AddPrimary(request, fb, rotation);
                    DrmEvent flip = await scene.CommitAndAwaitFlipAsync(request, DrmAtomicCommitFlags.Nonblock, tag);
                    return await capture.ReadAfterAsync(flip.Sequence, Patience, Ct);
                }

                DrmCrc crcB = await Show(fbB, 0, 2);
                DrmCrc crcC = await Show(fbC, 0, 3);
                DrmProperty rotation = scene.PrimaryProperties.GetProperty("rotation");
                DrmCrc crcReflected = await Show(fbA, rotation.ValueOf("rotate-0") | rotation.ValueOf("reflect-y"), 4);
                DrmCrc crcUpsideDown = await Show(fbUpsideDown, 0, 5);

                Assert.Single(crcA.Values);
                Assert.True(crcA.SameValues(crcB), $"same pixels, other buffer: {crcA} vs {crcB}");
                Assert.False(crcA.SameValues(crcC), $"one pixel differs: {crcA} vs {crcC}");
                Assert.False(crcA.SameValues(crcReflected), $"reflected: {crcA} vs {crcReflected}");
                Assert.True(crcReflected.SameValues(crcUpsideDown), $"REFLECT_Y is the picture upside down: {crcReflected} vs {crcUpsideDown}");

                var busy = Assert.Throws<DrmException>(() => scene.Card.OpenCrcCapture(scene.Crtc));
                ErrnoAssert.Equal(Errno.EBUSY, busy);
                Assert.Contains("crtc-0/crc/control", busy.Message);
            }

            scene.AssertNoFramebuffers();
        }

        oracle.Verify();
    }

    [Fact]
    public async Task An_overlay_at_a_position_composes_to_the_crc_of_the_same_pixels_on_the_primary_alone()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        {
            DrmPlane? overlay = scene.Planes.FirstOrDefault(p => p.Type == DrmPlaneType.Overlay && p.CanUse(scene.Crtc));
            Assert.SkipWhen(overlay is null && !KernelEnv.InRig, "this vkms has no overlay planes (load it with enable_overlay=1)");
            Assert.True(overlay is not null, "vkms has no overlay plane: the rig boots kernel A with vkms.enable_overlay=1");
            const int X = 100, Y = 50, Size = 128;
            static uint Square(int x, int y) => 0xff000000u | ((uint)(x * 2) << 16) | 0x8000u | (uint)(y * 2);
            using (var background = scene.CreatePicture(VkmsScene.Asymmetric))
            using (var square = scene.CreatePicture(Size, Size, Square))
            using (var composed = scene.CreatePicture((x, y) => x >= X && x < X + Size && y >= Y && y < Y + Size ? Square(x - X, y - Y) : VkmsScene.Asymmetric(x, y)))
            using (var fbBackground = scene.Card.AddFramebuffer(background, DrmFourcc.Xrgb8888))
            using (var fbSquare = scene.Card.AddFramebuffer(square, DrmFourcc.Xrgb8888))
            using (var fbComposed = scene.Card.AddFramebuffer(composed, DrmFourcc.Xrgb8888))
            using (var mode = scene.Card.CreatePropertyBlob(scene.Mode))
            {
                DrmObjectProperties overlayProperties = scene.Card.GetProperties(overlay.Id, DrmObjectType.Plane);
                var request = new DrmAtomicRequest();
                scene.AddModeset(request, mode);
                scene.AddPrimary(request, fbBackground);
                scene.AddPlane(request, overlayProperties, fbSquare, X, Y, Size, Size);
                DrmEvent set = await scene.CommitAndAwaitFlipAsync(request, DrmAtomicCommitFlags.AllowModeset, 1);
                using DrmCrcCapture capture = scene.Card.OpenCrcCapture(scene.Crtc);
                DrmCrc withOverlay = await capture.ReadAfterAsync(set.Sequence, Patience, Ct);

                request.Clear();
                request.Add(overlayProperties, "FB_ID", 0);
                request.Add(overlayProperties, "CRTC_ID", 0);
                scene.AddPrimary(request, fbComposed);
                DrmEvent flip = await scene.CommitAndAwaitFlipAsync(request, DrmAtomicCommitFlags.Nonblock, 2);
                DrmCrc primaryAlone = await capture.ReadAfterAsync(flip.Sequence, Patience, Ct);

                request.Clear();
                scene.AddPrimary(request, fbBackground);
                flip = await scene.CommitAndAwaitFlipAsync(request, DrmAtomicCommitFlags.Nonblock, 3);
                DrmCrc backgroundAlone = await capture.ReadAfterAsync(flip.Sequence, Patience, Ct);

                Assert.True(withOverlay.SameValues(primaryAlone), $"overlay over the background {withOverlay}, the same pixels on the primary {primaryAlone}");
                Assert.False(withOverlay.SameValues(backgroundAlone), $"the overlay must show: {withOverlay} vs {backgroundAlone}");
            }

            scene.AssertNoFramebuffers();
        }

        oracle.Verify();
    }

    [Fact]
    public void A_crc_capture_of_a_crtc_that_is_off_is_refused_with_EIO()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        {
            var off = Assert.Throws<DrmException>(() => scene.Card.OpenCrcCapture(scene.Crtc));
            ErrnoAssert.Equal(Errno.EIO, off);
            Assert.Contains("is off", off.Message);
        }

        oracle.Verify();
    }

    [Fact]
    public async Task Writeback_gives_back_the_exact_bytes_of_the_frame()
    {
        using var oracle = new LeakOracle();
        using (var scene = VkmsScene.Open())
        {
            using (var picture = scene.CreatePicture(VkmsScene.Asymmetric))
            using (var target = scene.Card.CreateDumbBuffer(scene.Width, scene.Height, 32))
            using (var fb = scene.Card.AddFramebuffer(picture, DrmFourcc.Xrgb8888))
            using (var targetFb = scene.Card.AddFramebuffer(target, DrmFourcc.Xrgb8888))
            using (var mode = scene.Card.CreatePropertyBlob(scene.Mode))
            {
                // vkms 6.12 refuses the Virtual output and writeback on one CRTC, and Oopses when a plane does not cover
                // the CRTC during writeback: writeback alone, the primary plane over all of it, unrotated.
                var request = new DrmAtomicRequest();
                scene.AddModeset(request, mode, toOutput: false);
                scene.AddPrimary(request, fb);
                request.AddWriteback(scene.WritebackProperties, scene.Crtc.Id, targetFb);
                scene.Card.CommitAtomic(request, DrmAtomicCommitFlags.AllowModeset);
                using (SyncFile done = request.TakeOutFence(scene.Writeback.Id))
                {
                    ErrnoAssert.Equal(0, TestLibc.IsCloseOnExec(done.FileDescriptor, out bool cloexec));
                    Assert.True(cloexec);
                    await done.WaitAsync(Patience, Ct);
                }

                Assert.Throws<InvalidOperationException>(() => request.TakeOutFence(scene.Writeback.Id)); // handed over once

                using var expected = picture.Map();
                using var actual = target.Map();
                using var e = expected.BeginAccess();
                using var a = actual.BeginAccess();
                int rowBytes = (int)scene.Width * 4, differing = 0, first = -1;
                for (int y = 0; y < scene.Height; y++)
                {
                    if (!e.Span.Slice(y * (int)picture.Pitch, rowBytes).SequenceEqual(a.Span.Slice(y * (int)target.Pitch, rowBytes)))
                    {
                        differing++;
                        first = first < 0 ? y : first;
                    }
                }

                Assert.True(differing == 0, $"{differing} of {scene.Height} rows differ, the first {first}");
            }

            scene.AssertNoFramebuffers();
        }

        oracle.Verify();
    }

    [Fact]
    public void Master_belongs_to_one_open_file_and_passes_with_drop_and_set()
    {
        using var oracle = new LeakOracle();
        using (var first = KernelEnv.OpenVgemCard())
        using (var second = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            Assert.True(first.IsMaster, "the first open file of a card becomes master");
            Assert.False(second.IsMaster);
            Assert.False(render.IsMaster);
            var busy = Assert.Throws<DrmException>(second.SetMaster);
            ErrnoAssert.Equal(Errno.EBUSY, busy);
            Assert.Contains($"DRM_IOCTL_SET_MASTER on {second.Path} failed: EBUSY", busy.Message);
            Assert.Contains("not DRM master", Assert.Throws<DrmException>(second.DropMaster).Message);

            first.DropMaster();
            Assert.False(first.IsMaster);
            second.SetMaster();
            Assert.True(second.IsMaster);
            second.DropMaster();
            first.SetMaster();
            Assert.True(first.IsMaster);
        }

        oracle.Verify();
    }

    [Fact]
    public void Kms_calls_on_a_driver_without_modesetting_fail_with_EOPNOTSUPP_and_say_so()
    {
        using var oracle = new LeakOracle();
        using (var vgem = KernelEnv.OpenVgemCard())
        {
            var e = Assert.Throws<DrmException>(vgem.GetResources);
            ErrnoAssert.Equal(Errno.EOPNOTSUPP, e);
            Assert.True(e.IsNotSupported);
            Assert.Contains($"DRM_IOCTL_MODE_GETRESOURCES on {vgem.Path} failed: EOPNOTSUPP", e.Message);
            Assert.Contains("no modesetting", e.Message);
            Assert.Contains("no modesetting", Assert.Throws<DrmException>(() => vgem.SetClientCapability(DrmClientCapability.Atomic)).Message);
            ErrnoAssert.Equal(Errno.EOPNOTSUPP, Assert.Throws<DrmException>(vgem.GetPlanes));
            ErrnoAssert.Equal(Errno.EOPNOTSUPP, Assert.Throws<DrmException>(() => vgem.GetProperties(1)));
            ErrnoAssert.Equal(Errno.EOPNOTSUPP, Assert.Throws<DrmException>(() => vgem.CreatePropertyBlob([1])));
        }

        oracle.Verify();
    }

    [Fact]
    public async Task An_event_wait_times_out_is_cancelled_and_ends_when_its_device_is_disposed()
    {
        using var oracle = new LeakOracle();
        DrmDevice card = KernelEnv.OpenVgemCard();
        try
        {
            Assert.False(card.TryReadEvent(out _));
            await Assert.ThrowsAsync<TimeoutException>(async () => await card.ReadEventAsync(TimeSpan.FromMilliseconds(50), Ct));
            using (var cts = new CancellationTokenSource())
            {
                Task<DrmEvent> canceled = card.ReadEventAsync(cts.Token).AsTask();
                await cts.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);
            }

            Task<DrmEvent> pending = card.ReadEventAsync(Ct).AsTask();
            card.Dispose();
            await Assert.ThrowsAsync<ObjectDisposedException>(() => pending);
            Assert.Throws<ObjectDisposedException>(() => card.TryReadEvent(out _));
        }
        finally
        {
            card.Dispose();
        }

        oracle.Verify(); // the poller's dups of the fd are closed
    }
}
