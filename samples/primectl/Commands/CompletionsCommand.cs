using System.CommandLine;

namespace PrimeCtl.Commands;

/// <summary>
/// `primectl completions bash|zsh|fish`: a shell script that asks primectl itself what may come next, through
/// System.CommandLine's [suggest] directive (what dotnet-suggest uses), so completions always match this binary.
/// </summary>
internal sealed class CompletionsCommand : Command
{
    private const string Bash = """
        # primectl tab completion for bash: eval "$(primectl completions bash)"
        _primectl_complete() {
            local IFS=$'\n' line point words
            line="${COMP_LINE#"${COMP_WORDS[0]}"}"
            line="${line# }"
            point=$(( COMP_POINT - ${#COMP_LINE} + ${#line} ))
            (( point < 0 )) && point=0
            words=$("${COMP_WORDS[0]}" "[suggest:${point}]" "$line" 2>/dev/null) || return
            COMPREPLY=($(compgen -W "$words" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -F _primectl_complete primectl
        """;

    private const string Zsh = """
        # primectl tab completion for zsh: eval "$(primectl completions zsh)"
        _primectl_complete() {
            local -a suggestions
            local line="${BUFFER#"${words[1]}"}"
            line="${line# }"
            suggestions=("${(@f)$("${words[1]}" "[suggest:${#line}]" "$line" 2>/dev/null)}")
            compadd -a suggestions
        }
        compdef _primectl_complete primectl
        """;

    private const string Fish = """
        # primectl tab completion for fish: primectl completions fish | source
        function __primectl_complete
            set -l line (string replace -r '^\\S+\\s*' '' -- (commandline -cp))
            primectl "[suggest:"(string length -- "$line")"]" "$line" 2>/dev/null
        end
        complete -c primectl -f -a '(__primectl_complete)'
        """;

    private readonly Argument<string> _shell = new("shell") { Description = "bash, zsh or fish" };

    public CompletionsCommand()
        : base("completions", "Print a tab-completion script: eval \"$(primectl completions bash)\" (zsh alike; fish: primectl completions fish | source)")
    {
        _shell.AcceptOnlyFromAmong("bash", "zsh", "fish");
        Add(_shell);
        SetAction(parse =>
        {
            Console.WriteLine(parse.GetValue(_shell) switch { "zsh" => Zsh, "fish" => Fish, _ => Bash });
            return ExitCodes.Ok;
        });
    }
}
