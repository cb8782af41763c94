using System.Globalization;

namespace PrimeCtl;

/// <summary>One option a command accepts.</summary>
internal sealed record OptionSpec(string Name, string? ValueName, string Description, string? Default = null);

/// <summary>What a command is: its name, one-line summary, options, and how it runs.</summary>
internal abstract class Command
{
    public abstract string Name { get; }

    public abstract string Summary { get; }

    public abstract IReadOnlyList<OptionSpec> Options { get; }

    public abstract Task<int> RunAsync(ParsedOptions options, IServiceProvider services, CancellationToken cancellationToken);

    public void PrintHelp(TextWriter w)
    {
        w.WriteLine($"primectl {Name} — {Summary}");
        w.WriteLine();
        w.WriteLine($"usage: primectl {Name} [options]");
        w.WriteLine();
        w.WriteLine("options:");
        foreach (var o in Options.Append(new OptionSpec("verbose", null, "log debug details to stderr")).Append(new OptionSpec("help", null, "show this help")))
        {
            string left = o.ValueName is null ? $"--{o.Name}" : $"--{o.Name} {o.ValueName}";
            w.WriteLine($"  {left,-22} {o.Description}{(o.Default is null ? "" : $" (default: {o.Default})")}");
        }

        w.WriteLine();
        w.WriteLine(Program.ExitCodeHelp);
    }
}

/// <summary>Options as parsed from the command line; unknown options and missing values are usage errors.</summary>
internal sealed class ParsedOptions(Dictionary<string, string?> values)
{
    public bool Has(string name) => values.ContainsKey(name);

    public string? Get(string name) => values.GetValueOrDefault(name);

    public string Get(string name, string fallback) => values.GetValueOrDefault(name) ?? fallback;

    public uint GetUInt(string name, uint fallback) => values.GetValueOrDefault(name) is { } v
        ? (uint.TryParse(v.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? v[2..] : v,
            v.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out uint u)
            ? u : throw new UsageException($"--{name} takes a non-negative number, not '{v}'"))
        : fallback;

    public static ParsedOptions Parse(Command command, IEnumerable<string> args)
    {
        var specs = command.Options.Append(new OptionSpec("verbose", null, "")).ToDictionary(o => o.Name);
        var values = new Dictionary<string, string?>();
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string arg = e.Current;
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"unexpected argument '{arg}'");
            }

            string name = arg[2..], value;
            int eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                (name, value) = (name[..eq], name[(eq + 1)..]);
            }
            else
            {
                value = "";
            }

            if (!specs.TryGetValue(name, out var spec))
            {
                throw new UsageException($"unknown option --{name} for '{command.Name}'");
            }

            if (spec.ValueName is not null && eq < 0)
            {
                value = e.MoveNext() ? e.Current : throw new UsageException($"--{name} needs a value ({spec.ValueName})");
            }

            values[name] = spec.ValueName is null ? null : value;
        }

        return new ParsedOptions(values);
    }
}

internal sealed class UsageException(string message) : Exception(message);
