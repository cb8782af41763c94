namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// Where the tests run and what the kernel offers. On a bare host (no /dev/dri) kernel tests skip with
/// "no DRM device; run the rig". Inside the rig (PRIMEINTEROP_RIG=1) a skip is a failure, except a capability
/// the rig says this kernel lacks (PRIMEINTEROP_RIG_LACKS, e.g. vkms on Debian's 6.1 kernel).
/// </summary>
public static class KernelEnv
{
    public const string Category = "Category";
    public const string Kernel = "Kernel";

    /// <summary>The capability of a socket option, not a device: SO_PASSPIDFD (Linux 6.5), which kernel B lacks.</summary>
    public const string PassPidFd = "SO_PASSPIDFD";

    private static readonly Lazy<IReadOnlyList<DrmNode>> Nodes = new(() => DrmNode.Enumerate());

    public static bool InRig => Environment.GetEnvironmentVariable("PRIMEINTEROP_RIG") == "1";

    private static IReadOnlyCollection<string> RigLacks =>
        (Environment.GetEnvironmentVariable("PRIMEINTEROP_RIG_LACKS") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);

    public static DrmNode? Find(string driver, DrmNodeType type) =>
        Nodes.Value.FirstOrDefault(n => n.DriverName == driver && n.Type == type);

    /// <summary>Skips (or, in the rig, fails) unless vgem is here.</summary>
    public static void RequireVgem()
    {
        if (Find("vgem", DrmNodeType.Primary) is null || Find("vgem", DrmNodeType.Render) is null)
        {
            Unavailable(Directory.Exists("/dev/dri")
                ? "no vgem device (sudo modprobe vgem, or run the rig: dotnet cake --target=Rig)"
                : "no DRM device; run the rig (dotnet cake --target=Rig)");
        }
    }

    /// <summary>Skips by capability: allowed in the rig only where the rig declares this kernel lacks it.</summary>
    public static void RequireCapability(string capability)
    {
        RequireVgem();
        if (HasCapability(capability))
        {
            return;
        }

        if (InRig && RigLacks.Contains(capability))
        {
            Assert.Skip($"this kernel lacks {capability}");
        }

        Unavailable($"needs {capability}, which this kernel does not offer");
    }

    public static bool HasCapability(string capability) => capability switch
    {
        "vkms" => Find("vkms", DrmNodeType.Primary) is not null,
        "udmabuf" => File.Exists("/dev/udmabuf"),
        "dma-heap" => File.Exists("/dev/dma_heap/system"),
        "sw_sync" => File.Exists("/sys/kernel/debug/sync/sw_sync"),
        "fault-injection" => Directory.Exists("/sys/kernel/debug/failslab") && Directory.Exists("/sys/kernel/debug/fail_page_alloc"),
        PassPidFd => NoEscapeHostTests.PassesPidFds(),
        _ => throw new ArgumentOutOfRangeException(nameof(capability), capability, "unknown capability"),
    };

    public static DrmDevice OpenVgemCard()
    {
        RequireVgem();
        return DrmDevice.Open(Find("vgem", DrmNodeType.Primary)!.Path);
    }

    public static DrmDevice OpenVgemRender()
    {
        RequireVgem();
        return DrmDevice.Open(Find("vgem", DrmNodeType.Render)!.Path);
    }

    public static DrmDevice OpenVkms()
    {
        RequireCapability("vkms");
        return DrmDevice.Open(Find("vkms", DrmNodeType.Primary)!.Path);
    }

    private static void Unavailable(string reason)
    {
        if (InRig)
        {
            Assert.Fail($"inside the rig a kernel test may not skip: {reason}");
        }

        Assert.Skip(reason);
    }
}
