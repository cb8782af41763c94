using System.Diagnostics;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>The time left of a read that waits for readability more than once (a DRM event, a CRC line).</summary>
internal static class Deadline
{
    /// <summary>
    /// What is left of <paramref name="timeout"/> since <paramref name="start"/> (a <see cref="Stopwatch"/> timestamp):
    /// <see cref="Timeout.InfiniteTimeSpan"/> for ever; a <see cref="TimeoutException"/> naming <paramref name="what"/>
    /// once nothing is left.
    /// </summary>
    public static TimeSpan Left(TimeSpan timeout, long start, string what)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return timeout;
        }

        TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
        return left > TimeSpan.Zero ? left : throw new TimeoutException($"{what} was not ready within {timeout.TotalMilliseconds} ms.");
    }
}
