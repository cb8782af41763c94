namespace PrimeInterop.Bench;

/// <summary>The measured paths, in the order of the summary line, and the C scenario each is compared with.</summary>
internal static class Paths
{
    public const string Export = "export", RoundTrip = "roundtrip", DupImport = "dup-import";
    public const string LaneExport = "lane-export", LaneRoundTrip = "lane-roundtrip", LaneDupImport = "lane-dup-import";
    public const string Access = "access", FdPass1 = "fdpass-1", FdPass4 = "fdpass-4", Scale = "scale-10k";
    public const string Reimport = "reimport", LaneReimport = "lane-reimport";
    public const string Wait1 = "wait-1", Wait1k = "wait-1k", Wait1kLast = "wait-1k-last";
    public const string Flip = "flip", FlipWall = "flip-wall", FlipPoolSpin = "flip-pool-spin";
    public const string FloorExport = "floor-export", FloorRoundTrip = "floor-roundtrip", FloorDupImport = "floor-dup-import";
    public const string RulesExport = "rules-export", RulesRoundTrip = "rules-roundtrip", RulesDupImport = "rules-dup-import";
    public const string RulesLaneExport = "rules-lane-export", RulesLaneRoundTrip = "rules-lane-roundtrip", RulesLaneDupImport = "rules-lane-dup-import";
    public const string RulesLaneCallbackRoundTrip = "rules-lane-cb-roundtrip";
    public const string RulesAccess = "rules-access", RulesFdPass1 = "rules-fdpass-1", RulesFdPass4 = "rules-fdpass-4";
    public const string RawExport = "raw-export", RawRoundTrip = "raw-roundtrip", RawDupImport = "raw-dup-import", RawAccess = "raw-access";
    public const string RawFinallyAccess = "raw-access-finally";
    public const string RawFdPass1 = "raw-fdpass-1", RawFdPass4 = "raw-fdpass-4";
    public const string FloorFdPass1 = "floor-fdpass-1", FloorFdPass4 = "floor-fdpass-4";
    public const string LaneFdPass1 = "lane-fdpass-1", LaneFdPass4 = "lane-fdpass-4";
    public const string Send = "send";

    /// <summary>The suffix of a C scenario through libdrm_amdgpu's kind of handle table (NativeLoops.DupImportLocked).</summary>
    public const string Locked = "-locked";

    public static readonly string[] All =
        [Export, RoundTrip, DupImport, LaneExport, LaneRoundTrip, LaneDupImport, Access, FdPass1, FdPass4, LaneFdPass1, LaneFdPass4, Scale,
         Reimport, LaneReimport, Wait1, Wait1k, Wait1kLast, Flip, FlipWall, FlipPoolSpin,
         FloorExport, FloorRoundTrip, FloorDupImport, FloorFdPass1, FloorFdPass4,
         RulesExport, RulesRoundTrip, RulesDupImport, RulesLaneExport, RulesLaneRoundTrip, RulesLaneCallbackRoundTrip, RulesLaneDupImport, RulesAccess, RulesFdPass1, RulesFdPass4,
         RawExport, RawRoundTrip, RawDupImport, RawAccess, RawFinallyAccess, RawFdPass1, RawFdPass4];

    /// <summary>The targets: the most C#/C may be, and whether the path must allocate nothing (scale-10k's is C#'s own slowdown).</summary>
    public static readonly IReadOnlyDictionary<string, (double Max, bool NoAllocation)> Targets = new Dictionary<string, (double, bool)>
    {
        [Export] = (1.50, false), [RoundTrip] = (1.40, false), [DupImport] = (1.80, false),
        [LaneExport] = (1.10, true), [LaneRoundTrip] = (1.10, true), [LaneDupImport] = (1.10, true), [Access] = (1.10, true),
        [FdPass1] = (1.11, false), [FdPass4] = (1.11, false), [LaneFdPass1] = (1.11, true), [LaneFdPass4] = (1.11, true),
        [Scale] = (1.15, false), [Reimport] = (0.30, false), [Wait1] = (1.50, true), [Wait1k] = (1.50, true), [Wait1kLast] = (1.50, false),
        [Flip] = (1.10, true),
    };

    /// <summary>What each path does, C# side and C side (docs/benchmarks.md's table, the console's legend).</summary>
    public static readonly IReadOnlyDictionary<string, string> What = new Dictionary<string, string>
    {
        [Export] = "HANDLE_TO_FD on card + close (ExportDmaBuf -> DmaBuf, disposed)",
        [RoundTrip] = "+ FD_TO_HANDLE on render + GEM_CLOSE (+ ImportDmaBuf -> GemHandle, disposed)",
        [DupImport] = "FD_TO_HANDLE of a dma-buf render holds (ImportDmaBuf + Dispose, a DmaBuf over a borrowed fd: the kernel is asked)",
        [LaneExport] = "export through ExportScoped",
        [LaneRoundTrip] = "round trip through ExportScoped + ImportScoped",
        [LaneDupImport] = "dup-import through ImportScoped",
        [Access] = "DMA_BUF_IOCTL_SYNC start + end (DmaBufMapping.BeginAccess + Dispose)",
        [FdPass1] = "1 dma-buf fd to a C echo peer and back (SendWithFds, ReceiveWithFds)",
        [FdPass4] = "4 fds, the same",
        [LaneFdPass1] = "fdpass-1 received through ReceiveScoped",
        [LaneFdPass4] = "fdpass-4 received through ReceiveScoped",
        [Scale] = "round trip into a file holding 10,000 other handles, against 1 (C#'s own slowdown; C's beside it)",
        [Reimport] = "ImportDmaBuf + Dispose of the DmaBuf render holds (remembered: no syscall), against C's FD_TO_HANDLE",
        [LaneReimport] = "the same DmaBuf through ImportScoped, which always asks the kernel",
        [Wait1] = "a vgem fence, the buffer re-armed, the fence to the signalling peer, the wait (await WaitReadyAsync)",
        [Wait1k] = "1,000 buffers awaited at once, signalled in a random order: time per wait",
        [Wait1kLast] = "the same: hand-over to the last completion",
        [Flip] = "a frame on vkms: wait-1 on the buffer, its framebuffer committed NONBLOCK|PAGE_FLIP_EVENT, the event (CommitAtomic, ReadEventAsync); the CPU time of every process, the thread pool's spin off",
        [FlipWall] = "the same frames in guest time, which runs on through each frame's idle wait for its vblank (not a target)",
        [FlipPoolSpin] = "flip with the thread pool's default spin: each worker yields 60 times before it sleeps, on every frame (not a target)",
        [FloorExport] = "raw + one bare SafeHandle per result",
        [FloorRoundTrip] = "raw + one bare SafeHandle per result",
        [FloorDupImport] = "raw + one bare SafeHandle per result",
        [FloorFdPass1] = "raw + one bare SafeHandle per fd received",
        [FloorFdPass4] = "raw + one bare SafeHandle per fd received",
        [RulesExport] = "floor + the GemHandle's hold",
        [RulesRoundTrip] = "floor + holds + a table with its lock across FD_TO_HANDLE and the last GEM_CLOSE",
        [RulesDupImport] = "floor + a lease on the dma-buf + FD_TO_HANDLE under the table's lock",
        [RulesLaneExport] = "the lane's export: hold, close on every path (one call per op)",
        [RulesLaneRoundTrip] = "the lane's round trip with the locked table (one call per scope)",
        [RulesLaneCallbackRoundTrip] = "rules-lane-roundtrip through delegates with state by reference",
        [RulesLaneDupImport] = "a lease on the dma-buf + FD_TO_HANDLE under the table's lock, in a scope",
        [RulesAccess] = "raw + the mapping's hold, SYNC_END in a finally",
        [RulesFdPass1] = "raw + a lease on each DmaBuf sent and on the socket per call",
        [RulesFdPass4] = "raw + a lease on each DmaBuf sent and on the socket per call",
        [RawExport] = "the syscalls alone from C# (LibraryImport, no SafeHandle, hold, table or check)",
        [RawRoundTrip] = "the syscalls alone from C#",
        [RawDupImport] = "the syscalls alone from C#",
        [RawAccess] = "the syscalls alone from C#",
        [RawFinallyAccess] = "raw, SYNC_END in a finally (where a using puts it): through the runtime's P/Invoke stub",
        [RawFdPass1] = "sendmsg/recvmsg on stack memory from C#, the received fds closed",
        [RawFdPass4] = "sendmsg/recvmsg on stack memory from C#, the received fds closed",
    };

    /// <summary>The paths a group (ManagedBench.Processes) measures, for a group this kernel cannot run.</summary>
    public static string[] OfGroup(string process) => process switch
    {
        Flip => [Flip, FlipWall],
        FlipPoolSpin => [FlipPoolSpin],
        _ => [],
    };

    /// <summary>The lanes and the raw, floor and rules variants do what the SafeHandle API does, so they are held against the same C loop.</summary>
    public static string NativeOf(string path)
    {
        if (path is RawFinallyAccess)
        {
            return Access;
        }

        if (path is Reimport or LaneReimport)
        {
            return DupImport; // the syscall a re-import saves: C's FD_TO_HANDLE of a dma-buf the file holds
        }

        if (path is Wait1kLast or FlipWall or FlipPoolSpin)
        {
            return path; // C measured beside it for it alone (flip-pool-spin runs in a process of its own)
        }

        foreach (string prefix in (ReadOnlySpan<string>)["rules-lane-cb-", "rules-lane-", "rules-", "floor-", "raw-", "lane-"])
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                return path[prefix.Length..];
            }
        }

        return path;
    }

    /// <summary>The library's path a variant stands beside: rules-lane-X beside lane-X, floor-X and rules-X beside X.</summary>
    public static string? LibraryOf(string path) =>
        path.StartsWith("rules-lane-", StringComparison.Ordinal) ? "lane-" + NativeOf(path)
        : path.StartsWith("floor-", StringComparison.Ordinal) || path.StartsWith("rules-", StringComparison.Ordinal) ? NativeOf(path)
        : null;

    /// <summary>The C scenario through a libdrm_amdgpu-style table that an import path is also held against, if any.</summary>
    public static string? LockedOf(string path) =>
        path is RoundTrip or LaneRoundTrip ? RoundTrip + Locked
        : path is DupImport or LaneDupImport or Reimport or LaneReimport ? DupImport + Locked
        : null;
}
