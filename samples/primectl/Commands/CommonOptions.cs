using System.CommandLine;
using PrimeInterop;

namespace PrimeCtl.Commands;

/// <summary>Options several commands share, made fresh for each command (a System.CommandLine symbol has one parent).</summary>
internal static class CommonOptions
{
    public static Option<string> Socket(string description) => new("--socket")
    {
        Description = description,
        HelpName = "PATH",
        DefaultValueFactory = _ => Program.DefaultSocket,
    };

    public static Option<string?> Driver(string description) => new("--driver")
    {
        Description = description + " [default: $PRIMECTL_PrimeInterop__Driver, else vgem]",
        HelpName = "NAME",
    };

    public static Option<uint> Seed(uint fallback, string description) => Number("--seed", fallback, description);

    public static Option<uint> FenceMs(uint fallback, string description) => Number("--fence-ms", fallback, description);

    /// <summary>
    /// A whole number from <paramref name="min"/> to <paramref name="max"/>; anything else is a usage error that says so
    /// (the parser's own message names the CLR type: "expected type 'System.UInt32'").
    /// </summary>
    public static Option<uint> Number(string name, uint fallback, string description, uint min = 0, uint max = uint.MaxValue)
    {
        var option = new Option<uint>(name) { Description = description, HelpName = "N", DefaultValueFactory = _ => fallback };
        option.CustomParser = result =>
        {
            string token = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            if (uint.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint value) && value >= min && value <= max)
            {
                return value;
            }

            result.AddError(max == uint.MaxValue
                ? $"{name} must be a whole number of {min} or more, not '{token}'."
                : $"{name} must be a whole number from {min} to {max}, not '{token}'.");
            return fallback;
        };
        return option;
    }

    public static Option<DrmNodeType?> Node(string description)
    {
        var option = new Option<DrmNodeType?>("--node") { Description = description + " [default: $PRIMECTL_PrimeInterop__NodeType, else render]", HelpName = "render|primary" };
        option.CompletionSources.Add("render", "primary");
        option.CustomParser = result =>
        {
            string token = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            switch (token.ToLowerInvariant())
            {
                case "render":
                    return DrmNodeType.Render;
                case "primary":
                    return DrmNodeType.Primary;
                default:
                    result.AddError($"--node must be render or primary, not '{token}'.");
                    return null;
            }
        };
        return option;
    }

    public static Option<string> Source()
    {
        var option = new Option<string>("--source")
        {
            Description = "Where the buffer comes from: a dumb buffer on the DRM device, a udmabuf over a memfd, or the system dma-buf heap",
            HelpName = "dumb|udmabuf|heap",
            DefaultValueFactory = _ => ExportSource.Dumb,
        };
        option.AcceptOnlyFromAmong(ExportSource.Dumb, ExportSource.Udmabuf, ExportSource.Heap);
        return option;
    }
}
