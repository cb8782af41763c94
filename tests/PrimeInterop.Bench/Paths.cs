namespace PrimeInterop.Bench;

/// <summary>The measured paths, in the order of the summary line, and the C scenario each is compared with.</summary>
internal static class Paths
{
    public const string Export = "export", RoundTrip = "roundtrip", DupImport = "dup-import";
    public const string LaneExport = "lane-export", LaneRoundTrip = "lane-roundtrip", LaneDupImport = "lane-dup-import";
    public const string Access = "access", FdPass1 = "fdpass-1", FdPass4 = "fdpass-4", Scale = "scale-10k";
    public const string FloorExport = "floor-export", FloorRoundTrip = "floor-roundtrip", FloorDupImport = "floor-dup-import";
    public const string RulesExport = "rules-export", RulesRoundTrip = "rules-roundtrip", RulesDupImport = "rules-dup-import";
    public const string RulesLaneExport = "rules-lane-export", RulesLaneRoundTrip = "rules-lane-roundtrip", RulesLaneDupImport = "rules-lane-dup-import";
    public const string RulesLaneCallbackRoundTrip = "rules-lane-cb-roundtrip";
    public const string PartHoldsDupImport = "part-holds-dup-import", PartLockDupImport = "part-lock-dup-import";
    public const string RulesAccess = "rules-access", RulesFdPass1 = "rules-fdpass-1", RulesFdPass4 = "rules-fdpass-4";
    public const string RawExport = "raw-export", RawRoundTrip = "raw-roundtrip", RawDupImport = "raw-dup-import", RawAccess = "raw-access";
    public const string RawFdPass1 = "raw-fdpass-1", RawFdPass4 = "raw-fdpass-4";
    public const string FloorFdPass1 = "floor-fdpass-1", FloorFdPass4 = "floor-fdpass-4";
    public const string LaneFdPass1 = "lane-fdpass-1", LaneFdPass4 = "lane-fdpass-4";
    public const string Send = "send";

    public static readonly string[] All =
        [Export, RoundTrip, DupImport, LaneExport, LaneRoundTrip, LaneDupImport, Access, FdPass1, FdPass4, LaneFdPass1, LaneFdPass4, Scale, FloorExport, FloorRoundTrip, FloorDupImport, FloorFdPass1, FloorFdPass4,
         RulesExport, RulesRoundTrip, RulesDupImport, RulesLaneExport, RulesLaneRoundTrip, RulesLaneCallbackRoundTrip, RulesLaneDupImport, PartHoldsDupImport, PartLockDupImport, RulesAccess, RulesFdPass1, RulesFdPass4, RawExport, RawRoundTrip, RawDupImport, RawAccess,
         RawFdPass1, RawFdPass4];

    /// <summary>The lanes and the raw, floor and rules variants do what the SafeHandle API does, so they are held against the same C loop.</summary>
    public static string NativeOf(string path)
    {
        foreach (string prefix in (ReadOnlySpan<string>)["part-holds-", "part-lock-", "rules-lane-cb-", "rules-lane-", "rules-", "floor-", "raw-", "lane-"])
        {
            if (path.StartsWith(prefix, StringComparison.Ordinal))
            {
                return path[prefix.Length..];
            }
        }

        return path;
    }
}
