using System.Diagnostics;
using System.Net.Sockets;
using Mono.Unix.Native;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// A send waiting for room in a full socket whose (hostile) peer never reads: disposing the socket ends it, with
/// everything it held given back. No DRM needed: the fd sent is a pipe's.
/// </summary>
public sealed class PendingSendTests
{
    [Theory]
    [InlineData(UnixSocketType.SOCK_STREAM)]
    [InlineData(UnixSocketType.SOCK_SEQPACKET)]
    public async Task A_send_waiting_on_a_full_socket_ends_with_ObjectDisposedException_when_the_socket_is_disposed(UnixSocketType type)
    {
        using var oracle = new LeakOracle();
        var pair = new SocketPair(type);
        var (r, w) = TestPipe.Create();
        try
        {
            pair.A.Blocking = false;
            while (pair.A.Send(new byte[4096], SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
            {
            }

            var ct = TestContext.Current.CancellationToken;
            int pending = PollerState.Armed;
            Task<int> send = pair.A.SendWithFdsAsync("x"u8.ToArray(), [r], ct).AsTask();
            await Task.Delay(300, ct);
            Assert.False(send.IsCompleted, "the peer reads nothing: the send must wait");
            Assert.Equal(pending + 1, PollerState.Armed);

            var clock = Stopwatch.StartNew();
            pair.A.Dispose(); // the wait holds the socket: Dispose shuts it down, which ends the wait
            TimeSpan disposed = clock.Elapsed;
            await Assert.ThrowsAsync<ObjectDisposedException>(() => send).WaitAsync(TimeSpan.FromSeconds(5), ct);
            TimeSpan ended = clock.Elapsed;
            Measurements.Record($"pending {type} send: Dispose returned after {disposed.TotalMilliseconds:F1} ms, the send ended {ended.TotalMilliseconds:F1} ms after Dispose began");
            Assert.True(ended < TimeSpan.FromSeconds(1), $"the send ended {ended.TotalMilliseconds:F0} ms after its socket's Dispose");
            Assert.Equal(pending, PollerState.Armed);

            // Every hold is given back: the fd that was to be sent closes on its own Dispose, and no dup is left.
            Assert.Equal(2, LeakOracle.FdsOnSameFile(w));
            r.Dispose();
            Assert.Equal(1, LeakOracle.FdsOnSameFile(w));
        }
        finally
        {
            pair.Dispose();
            r.Dispose();
            w.Dispose();
        }

        oracle.Verify(); // the socket's fds, the wait's dup: all closed
    }
}
