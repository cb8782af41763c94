namespace PrimeInterop;

/// <summary>What <c>SYNC_IOC_FILE_INFO</c> says about a sync_file.</summary>
/// <param name="Name">The sync_file's name (set at creation or merge).</param>
/// <param name="Status">Signalled once every fence has.</param>
/// <param name="Error">The errno a fence signalled with, when <paramref name="Status"/> is <see cref="FenceStatus.Error"/>; else 0.</param>
/// <param name="Fences">The fences, one per timeline.</param>
public sealed record SyncFileInfo(string Name, FenceStatus Status, int Error, IReadOnlyList<SyncFenceInfo> Fences);

/// <summary>One fence of a sync_file.</summary>
/// <param name="TimelineName">The timeline (<c>obj_name</c>), for example a sw_sync timeline's name or a ring.</param>
/// <param name="DriverName">The driver that made the fence (<c>driver_name</c>), for example <c>sw_sync</c> or <c>vgem</c>.</param>
/// <param name="Status">The fence's state.</param>
/// <param name="Error">The errno it signalled with, when <paramref name="Status"/> is <see cref="FenceStatus.Error"/>; else 0.</param>
/// <param name="Timestamp">When it signalled, on the CLOCK_MONOTONIC clock; null while active.</param>
public sealed record SyncFenceInfo(string TimelineName, string DriverName, FenceStatus Status, int Error, TimeSpan? Timestamp);
