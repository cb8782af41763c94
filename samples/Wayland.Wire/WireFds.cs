using Microsoft.Win32.SafeHandles;
using PrimeInterop;

namespace Wayland.Wire;

/// <summary>What a server does with an fd argument before trusting it: ask the kernel what it is.</summary>
public static class WireFds
{
    /// <summary>
    /// Takes over <paramref name="fd"/> as a <see cref="DmaBuf"/> once the kernel confirms it is one (fstatfs); an fd
    /// of another kind is closed and refused, so a client's bad fd costs that request only.
    /// </summary>
    /// <exception cref="InvalidDataException">The fd is not a dma-buf (it has been closed).</exception>
    public static DmaBuf TakeDmaBuf(SafeFileHandle fd, string what)
    {
        ArgumentNullException.ThrowIfNull(fd);
        ObjectDisposedException.ThrowIf(fd.IsClosed, fd);
        int raw = (int)fd.DangerousGetHandle();
        fd.SetHandleAsInvalid(); // ownership moves to the DmaBuf, which closes it also when the check fails
        try
        {
            return DmaBuf.FromFileDescriptor(raw, ownsHandle: true);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{what}: {e.Message}", e);
        }
    }
}
