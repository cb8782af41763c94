namespace PrimeInterop.Bench;

/// <summary>The measured paths, in the order of the summary line, and the C scenario each is compared with.</summary>
internal static class Paths
{
    public const string Export = "export", RoundTrip = "roundtrip", DupImport = "dup-import";
    public const string LaneExport = "lane-export", LaneRoundTrip = "lane-roundtrip", LaneDupImport = "lane-dup-import";
    public const string Access = "access", FdPass1 = "fdpass-1", FdPass4 = "fdpass-4", Scale = "scale-10k";
    public const string FloorExport = "floor-export", FloorRoundTrip = "floor-roundtrip", FloorDupImport = "floor-dup-import";
    public const string Send = "send";

    public static readonly string[] All =
        [Export, RoundTrip, DupImport, LaneExport, LaneRoundTrip, LaneDupImport, Access, FdPass1, FdPass4, Scale, FloorExport, FloorRoundTrip, FloorDupImport];

    /// <summary>The lanes and the floor do what the SafeHandle API does, so they are held against the same C loop.</summary>
    public static string NativeOf(string path) =>
        path.StartsWith("lane-", StringComparison.Ordinal) ? path[5..] : path.StartsWith("floor-", StringComparison.Ordinal) ? path[6..] : path;
}
