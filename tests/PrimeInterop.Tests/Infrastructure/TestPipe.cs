using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// A plain pipe(2) as two SafeFileHandles, closed when disposed and nowhere else: unlike a PipeStream, nothing in the
/// runtime takes references to these fds, so a leak check right after Dispose sees exactly what the test did.
/// </summary>
public static class TestPipe
{
    public static (SafeFileHandle Read, SafeFileHandle Write) Create()
    {
        Assert.Equal(0, Syscall.pipe(out int r, out int w));
        return (new SafeFileHandle(r, true), new SafeFileHandle(w, true));
    }

    /// <summary>Makes the read end readable.</summary>
    public static unsafe void WriteByte(SafeFileHandle write)
    {
        byte one = 1;
        Assert.Equal(1L, Syscall.write((int)write.DangerousGetHandle(), &one, 1));
    }

    /// <summary>Takes one byte back, so that the read end is not readable (again).</summary>
    public static unsafe void ReadByte(System.Runtime.InteropServices.SafeHandle read)
    {
        byte b;
        Assert.Equal(1L, Syscall.read((int)read.DangerousGetHandle(), &b, 1));
    }
}
