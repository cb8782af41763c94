using System.CommandLine;
using System.CommandLine.Invocation;
using PrimeCtl.Commands;

namespace PrimeCtl;

/// <summary>primectl: the command tree on System.CommandLine; each command lives in its own class under Commands/.</summary>
internal static class Program
{
    public const string ExitCodeHelp =
        "Exit codes: 0 ok, 1 pixels did not verify, 2 usage error, 3 no DRM device or no permission to open it, 4 other failure, 130 interrupted.";

    public const string ConfigurationHelp =
        "Configuration: PRIMECTL_PrimeInterop__DevicePath, PRIMECTL_PrimeInterop__Driver, PRIMECTL_PrimeInterop__NodeType\n" +
        "choose the device when --driver is not given. Arguments can be read from a response file: primectl @args.rsp";

    /// <summary>What to do about a missing device or permission, appended to the error: for the user first, then for contributors.</summary>
    public const string NoDeviceHelp =
        "To fix: load a DRM driver if there is no GPU (sudo modprobe vgem; vkms too for framebuffers), and join the 'render' " +
        "and 'video' groups (sudo usermod -aG render,video $USER, then log in again) or run as root. In a container, pass " +
        "the device in (--device /dev/dri). Working on PrimeInterop itself without /dev/dri? Its test rig runs primectl in a " +
        "VM: dotnet cake --target=Demo (see CONTRIBUTING.md).";

    public static string DefaultSocket => Path.Combine(Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } run ? run : Path.GetTempPath(), "primectl.sock");

    /// <summary>-v/--verbose, on every command: debug logging to stderr, and an exception's stack on failure.</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Log debug details to stderr", Recursive = true };

    public static async Task<int> Main(string[] args)
    {
        var root = CreateRootCommand();
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction errorAction)
        {
            // Errors and "did you mean" suggestions on stderr; a usage error is exit 2 (System.CommandLine says 1).
            errorAction.ShowHelp = false;
            errorAction.ShowTypoCorrections = true;
            parse.Invoke(new InvocationConfiguration { Output = Console.Error, Error = Console.Error });
            string command = parse.CommandResult.Command == root ? "primectl" : $"primectl {parse.CommandResult.Command.Name}";
            Console.Error.WriteLine($"See '{command} --help'.");
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
#pragma warning disable CA1031 // the last resort: every command maps its own failures; nothing may end in a stack trace
        catch (Exception e)
#pragma warning restore CA1031
        {
            Console.Error.WriteLine($"primectl: {e.Message}");
            return ExitCodes.Failed;
        }
    }

    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("primectl — share GPU buffers through DRM PRIME (a PrimeInterop sample)\n\n" + ConfigurationHelp + "\n" + ExitCodeHelp)
        {
            Verbose,
            new ListCommand(),
            new ExportCommand(),
            new ImportCommand(),
            new DemoCommand(),
            new CompletionsCommand(),
        };
        root.Subcommands.Add(new HelpCommand(root));

        // No command: the usage, and exit 2. An action here also keeps a mistyped command from being reported as
        // "Required command was not provided" before the real error and its "did you mean".
        root.SetAction(parse =>
        {
            Console.Error.WriteLine($"primectl: a command is required: {string.Join(", ", root.Subcommands.Select(c => c.Name))}.");
            Console.Error.WriteLine("See 'primectl --help'.");
            return ExitCodes.Usage;
        });
        return root;
    }
}
