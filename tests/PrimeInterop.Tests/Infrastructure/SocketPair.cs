using System.Net.Sockets;
using Mono.Unix.Native;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>A connected AF_UNIX pair (socketpair(2) through Mono.Posix, which .NET lacks), as .NET Sockets.</summary>
public sealed class SocketPair : IDisposable
{
    public SocketPair(UnixSocketType type = UnixSocketType.SOCK_STREAM)
    {
        Assert.Equal(0, Syscall.socketpair(UnixAddressFamily.AF_UNIX, type, UnixSocketFlags.SOCK_CLOEXEC, 0, out int a, out int b));
        A = new Socket(new SafeSocketHandle(a, ownsHandle: true));
        B = new Socket(new SafeSocketHandle(b, ownsHandle: true));
    }

    public Socket A { get; }

    public Socket B { get; }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
