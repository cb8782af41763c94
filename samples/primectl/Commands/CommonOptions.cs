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

    public static Option<uint> Seed(uint fallback, string description) => new("--seed")
    {
        Description = description,
        HelpName = "N",
        DefaultValueFactory = _ => fallback,
    };

    public static Option<uint> FenceMs(uint fallback, string description) => new("--fence-ms")
    {
        Description = description,
        HelpName = "N",
        DefaultValueFactory = _ => fallback,
    };

    public static Option<DrmNodeType?> Node(string description)
    {
        var option = new Option<DrmNodeType?>("--node") { Description = description + " [default: $PRIMECTL_PrimeInterop__NodeType, else render]", HelpName = "render|primary" };
        option.CompletionSources.Add("render", "primary");
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
