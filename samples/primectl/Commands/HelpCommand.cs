using System.CommandLine;

namespace PrimeCtl.Commands;

/// <summary>`primectl help [command]`: the same help as `primectl [command] --help`.</summary>
internal sealed class HelpCommand : Command
{
    private readonly Argument<string[]> _command = new("command") { Description = "The command to describe", Arity = ArgumentArity.ZeroOrMore, HelpName = "command" };

    public HelpCommand(RootCommand root)
        : base("help", "Show help for primectl or one of its commands")
    {
        Add(_command);
        _command.CompletionSources.Add(_ => root.Subcommands.Select(c => c.Name));
        SetAction(parse =>
        {
            string[] path = parse.GetValue(_command) ?? [];
            Command target = root;
            foreach (string name in path)
            {
                var next = target.Subcommands.FirstOrDefault(c => c.Name == name);
                if (next is null)
                {
                    Console.Error.WriteLine($"primectl help: no command '{name}'; the commands are {string.Join(", ", target.Subcommands.Select(c => c.Name))}");
                    return ExitCodes.Usage;
                }

                target = next;
            }

            return root.Parse([.. path, "--help"]).Invoke();
        });
    }
}
