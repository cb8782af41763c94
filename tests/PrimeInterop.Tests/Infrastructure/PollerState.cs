using System.Globalization;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// The library's readiness poller as the kernel sees it: the registrations in its epoll set, and those armed for an
/// event, read from /proc/self/fdinfo of its epoll fd (one "tfd:" line per registration; a one-shot registration that
/// fired, or that the poller disarmed, keeps only its flag bits).
/// </summary>
internal static class PollerState
{
    private const uint EpollIn = 0x1, EpollOut = 0x4;

    /// <summary>How many fds are registered in the poller's epoll set.</summary>
    public static int Registered => Lines().Count;

    /// <summary>How many registrations are armed for readiness: the waits in progress.</summary>
    public static int Armed => Lines().Count(events => (events & (EpollIn | EpollOut)) != 0);

    private static List<uint> Lines()
    {
        var events = new List<uint>();
        foreach (string line in File.ReadLines($"/proc/self/fdinfo/{FdPoller.Instance.EpollFd}"))
        {
            // tfd:        9 events:       19 data:      100000002  pos:0 ino:… sdev:…
            if (line.StartsWith("tfd:", StringComparison.Ordinal))
            {
                string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                events.Add(uint.Parse(words[Array.IndexOf(words, "events:") + 1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }

        return events;
    }
}
