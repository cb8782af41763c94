// PrimeInterop soak: 8 threads doing random create/export/import/duplicate/map/dispose on vgem and vkms, and
// passing dma-bufs to a second process (this program with --peer) and back, checking after every step that each
// live GemHandle still names a live kernel handle of the right object. Needs vgem and vkms (the rig's kernel A).
//   dotnet PrimeInterop.Soak.dll [--seconds N] [--threads N] [--seed N] [--summary FILE]
// Ends with exactly one line on stdout:
//   soak: N operations, 0 invariant violations, 0 leaked fds, 0 leaked handles
// and exits 0 only when all three counts are 0 (1 otherwise, 2 when it could not start).
using System.Globalization;
using PrimeInterop;
using PrimeInterop.Soak;

try
{
    if (args.Length == 3 && args[0] == "--peer") // started by the soak itself: --peer SOCKET CONNECTIONS
    {
        return await Peer.RunAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
    }

    var options = Options.Parse(args);
    return await Soak.RunAsync(options);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"soak: {e.Message}");
    Console.Error.WriteLine("usage: PrimeInterop.Soak [--seconds N] [--threads N] [--seed N] [--summary FILE]");
    return 2;
}
catch (DrmException e)
{
    Console.Error.WriteLine($"soak: cannot start: {e.Message}");
    return 2;
}

namespace PrimeInterop.Soak
{
    internal sealed record Options(int Seconds, int Threads, int Seed, string? Summary)
    {
        public static Options Parse(string[] args)
        {
            int seconds = 60, threads = 8, seed = Environment.TickCount;
            string? summary = null;
            for (int i = 0; i < args.Length; i++)
            {
                string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--seconds": seconds = Positive(value, args[i]); break;
                    case "--threads": threads = Positive(value, args[i]); break;
                    case "--seed": seed = int.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--summary": summary = value; break;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }

                i++;
            }

            return new Options(seconds, threads, seed, summary);
        }

        private static int Positive(string value, string name) =>
            int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : throw new ArgumentException($"{name} must be a positive integer, not '{value}'");
    }
}
