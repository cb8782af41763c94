using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Wayland.Wire;

/// <summary>
/// Memory files as Wayland passes them (wl_shm pools, the dma-buf format table): memfd_create(2) with seals, and a
/// read-only private mapping of a peer's file. The libc calls .NET does not offer.
/// </summary>
public static class SharedMemory
{
    private const uint MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2;
    private const int F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
    private const int F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8;
    private const int PROT_READ = 1, MAP_PRIVATE = 2;

    /// <summary>An anonymous, close-on-exec memory file of <paramref name="size"/> bytes.</summary>
    public static SafeFileHandle Create(string name, long size) => Create(name, size, sealable: false);

    /// <summary>
    /// A memory file holding <paramref name="contents"/>, sealed against any change (write, shrink, grow, new seals):
    /// what a compositor hands every client to map, as weston does for its format table.
    /// </summary>
    public static SafeFileHandle CreateSealed(string name, ReadOnlySpan<byte> contents)
    {
        SafeFileHandle fd = Create(name, contents.Length, sealable: true);
        try
        {
            RandomAccess.Write(fd, contents, 0);
            if (Fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
            {
                throw Errno($"fcntl(F_ADD_SEALS) on memfd \"{name}\"");
            }

            return fd;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes of a peer's memory file. The length is checked against the file's
    /// size first. A file sealed against shrinking is mapped (read-only, MAP_PRIVATE, as linux-dmabuf asks); any
    /// other is read with pread, because the peer could truncate it under a mapping and the read would then fault
    /// (SIGBUS) instead of failing.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is smaller than <paramref name="length"/>.</exception>
    public static byte[] ReadPeerFile(SafeFileHandle fd, long length, string what)
    {
        ArgumentNullException.ThrowIfNull(fd);
        long size = RandomAccess.GetLength(fd);
        if (length < 0 || length > size)
        {
            throw new InvalidDataException($"{what}: {length} bytes announced, the file has {size}.");
        }

        byte[] bytes = new byte[length];
        if (length == 0)
        {
            return bytes;
        }

        int seals = Fcntl(fd, F_GET_SEALS, 0);
        if (seals < 0 || (seals & F_SEAL_SHRINK) == 0)
        {
            int read = 0;
            while (read < length)
            {
                int n = RandomAccess.Read(fd, bytes.AsSpan(read), read);
                if (n == 0)
                {
                    throw new InvalidDataException($"{what}: the file shrank to {read} bytes while it was read.");
                }

                read += n;
            }

            return bytes;
        }

        IntPtr map = Mmap(IntPtr.Zero, (nuint)length, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == new IntPtr(-1))
        {
            throw Errno($"{what}: mmap(PROT_READ, MAP_PRIVATE)");
        }

        try
        {
            Marshal.Copy(map, bytes, 0, (int)length);
        }
        finally
        {
            _ = Munmap(map, (nuint)length);
        }

        return bytes;
    }

    private static SafeFileHandle Create(string name, long size, bool sealable)
    {
        int fd = MemfdCreate(Encoding.UTF8.GetBytes(name + "\0"), MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0));
        if (fd < 0)
        {
            throw Errno($"memfd_create(\"{name}\")");
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            RandomAccess.SetLength(handle, size);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static IOException Errno(string call)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call} failed: errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})");
    }

    [DllImport("libc", EntryPoint = "memfd_create", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MemfdCreate(byte[] name, uint flags);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fcntl(SafeFileHandle fd, int command, int argument);

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern IntPtr Mmap(IntPtr address, nuint length, int protection, int flags, SafeFileHandle fd, long offset);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Munmap(IntPtr address, nuint length);
}
