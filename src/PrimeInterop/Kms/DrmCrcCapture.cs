using System.Diagnostics;
using System.Globalization;
using System.Text;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// The CRCs a CRTC computes of each frame it scans out, read from debugfs (<c>/sys/kernel/debug/dri/N/crtc-M/crc/</c>,
/// the kernel's CRC ABI; vkms, i915, amdgpu, … have it): frames with the same pixels have the same CRC, so a test
/// can prove what is on the screen without a camera. Capture starts when this object is made and stops when it is
/// disposed; only one capture per CRTC can be open at a time (EBUSY). Needs debugfs mounted and readable (root).
/// </summary>
public sealed class DrmCrcCapture : IDisposable
{
    private const string DebugFsDri = "/sys/kernel/debug/dri";

    private readonly OwnedFile _data; // its Dispose ends a pending read's wait
    private readonly byte[] _line = new byte[128]; // a line is 10 + 11 * values + 2 bytes, and at most 10 values
    private readonly Lock _readGate = new();

    private DrmCrcCapture(OwnedFile data, string path, DrmCrtc crtc)
    {
        _data = data;
        Path = path;
        Crtc = crtc;
    }

    /// <summary>The debugfs file the CRCs are read from.</summary>
    public string Path { get; }

    /// <summary>The CRTC whose frames are captured.</summary>
    public DrmCrtc Crtc { get; }

    /// <summary>
    /// Starts capturing <paramref name="crtc"/>'s CRCs from <paramref name="source"/> (written to
    /// <c>crc/control</c>; <c>auto</c> lets the driver choose). The CRTC must be on (EIO otherwise).
    /// </summary>
    /// <exception cref="DrmException">
    /// debugfs or the CRTC's crc directory is not there (ENOENT: not mounted, not root, no CRC support in the driver),
    /// the source is unknown (EINVAL), a capture is already open (EBUSY), or the CRTC is off (EIO).
    /// </exception>
    internal static DrmCrcCapture Open(DrmDevice device, DrmCrtc crtc, string source)
    {
        ArgumentNullException.ThrowIfNull(crtc);
        ArgumentException.ThrowIfNullOrEmpty(source);
        string dir = DebugFsDirectory(device);
        string crcDir = $"{dir}/crtc-{crtc.Index}/crc";
        string control = $"{crcDir}/control";
        WriteText(control, source + "\n", hint: errno => errno switch
        {
            Errno.ENOENT => $"no crtc-{crtc.Index}/crc in {dir}: the driver does not compute CRCs",
            Errno.EBUSY => "a CRC capture of this CRTC is open already",
            Errno.EINVAL => $"the driver has no CRC source '{source}'",
            _ => null,
        });

        string data = $"{crcDir}/data";
        // Non-blocking: this file is ours alone, so a read that finds no CRC yet says EAGAIN and the wait goes to the poller.
        int errno = Libc.Open(data, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NONBLOCK, out int fd);
        if (errno != 0)
        {
            ThrowHelper.Throw(errno, Libc.Operation.Open, data, hint: errno switch
            {
                Errno.EIO => $"{crtc} is off: set a mode and ACTIVE=1 before capturing its CRCs",
                Errno.EBUSY => "a CRC capture of this CRTC is open already",
                _ => null,
            });
        }

        OwnedFile file = NewFd.Own(fd, static fd => new OwnedFile(fd));
        try
        {
            return new DrmCrcCapture(file, data, crtc);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The next frame's CRC: one that is queued, or the next the CRTC computes (awaited through the library's poller).</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">No CRC came in time (the CRTC stopped?).</exception>
    public async Task<DrmCrc> ReadAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            if (TryRead(out DrmCrc? crc))
            {
                return crc;
            }

            TimeSpan left = Deadline.Left(timeout, start, Path);
            await _data.WaitForAsync(Epoll.EPOLLIN, left, Path, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The CRC of the first frame after vblank <paramref name="sequence"/> (a page-flip event's
    /// <see cref="DrmEvent.Sequence"/>): the first frame that surely shows the flipped state. Earlier CRCs are skipped.
    /// </summary>
    public async Task<DrmCrc> ReadAfterAsync(ulong sequence, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            TimeSpan left = Deadline.Left(timeout, start, $"A CRC of a frame after {sequence} from {Path}");
            DrmCrc crc = await ReadAsync(left, cancellationToken).ConfigureAwait(false);
            if (crc.Frame is uint frame && (int)(frame - (uint)sequence) > 0) // the kernel's frame counter is 32 bits and wraps
            {
                return crc;
            }
        }
    }

    /// <summary>Stops the capture (closes the data file); pending reads end with ObjectDisposedException.</summary>
    public void Dispose()
    {
        _data.Dispose();
    }

    /// <summary>debugfs's directory of <paramref name="device"/>: <c>dri/&lt;minor&gt;</c>, checked by its <c>name</c> file.</summary>
    internal static string DebugFsDirectory(DrmDevice device)
    {
        uint minor;
        using (var lease = device.DeviceLease())
        {
            ThrowHelper.ThrowIfError(Libc.Stat(device.RawFd, out _, out _, out ulong rdev, out _), Libc.Operation.FStat, device.Path);
            minor = Libc.Minor(rdev);
        }

        string dir = $"{DebugFsDri}/{minor}";
        string nameFile = $"{dir}/name";
        string? name = null;
        try
        {
            name = File.ReadAllText(nameFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ThrowHelper.Throw(e is UnauthorizedAccessException ? Errno.EACCES : Errno.ENOENT, Libc.Operation.Open, nameFile,
                hint: $"debugfs is not mounted at /sys/kernel/debug (mount -t debugfs none /sys/kernel/debug), the kernel has no CONFIG_DEBUG_FS, or this user may not read it (root only): {e.Message}");
        }

        string driver = device.Version.Name;
        if (!name.StartsWith(driver + " ", StringComparison.Ordinal) && name.Trim() != driver)
        {
            ThrowHelper.Throw(Errno.ENODEV, Libc.Operation.Open, dir, hint: $"debugfs's minor {minor} is '{name.Trim()}', not the {driver} device {device.Path}");
        }

        return dir;
    }

    private static void WriteText(string path, string text, Func<int, string?> hint)
    {
        string operation = Libc.Operation.Open;
        int errno = Libc.Open(path, Libc.O_WRONLY | Libc.O_CLOEXEC, out int fd);
        if (errno == 0)
        {
            operation = Libc.Operation.Write;
            errno = Libc.Write(fd, Encoding.ASCII.GetBytes(text), out _);
            Libc.Close(fd);
        }

        if (errno != 0)
        {
            ThrowHelper.Throw(errno, operation, path, hint: hint(errno));
        }
    }

    private bool TryRead([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DrmCrc? crc)
    {
        int errno;
        int count;
        lock (_readGate)
        {
            using (var lease = new Lease(_data))
            {
                errno = Libc.Read(lease.Fd, _line, out count);
            }

            crc = null;
            if (errno == Errno.EAGAIN)
            {
                return false;
            }

            ThrowHelper.ThrowIfError(errno, Libc.Operation.Read, Path);
            crc = DrmCrc.Parse(_line.AsSpan(0, count)) ?? throw DrmException.FromErrno(Errno.EIO, Libc.Operation.Read, Path,
                hint: $"not a CRC line: '{Encoding.ASCII.GetString(_line, 0, count).TrimEnd()}'");
            return true;
        }
    }
}

/// <summary>One frame's CRC values, as the CRTC's <c>crc/data</c> file gives them.</summary>
public sealed class DrmCrc
{
    internal DrmCrc(uint? frame, uint[] values)
    {
        Frame = frame;
        Values = Array.AsReadOnly(values);
    }

    /// <summary>The frame (vblank) counter of the frame; null when the driver does not say.</summary>
    public uint? Frame { get; }

    /// <summary>The CRC values (how many, and what they cover, is the driver's choice; vkms gives one CRC32).</summary>
    public IReadOnlyList<uint> Values { get; }

    /// <summary>True when both frames have the same CRC values: the same pixels.</summary>
    public bool SameValues(DrmCrc other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Values.SequenceEqual(other.Values);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"frame {(Frame is uint f ? f.ToString(CultureInfo.InvariantCulture) : "?")}: {string.Join(' ', Values.Select(v => v.ToString("x8", CultureInfo.InvariantCulture)))}";

    /// <summary>
    /// Parses one line: <c>0x%08x</c> (or <c>XXXXXXXXXX</c> when the driver has no frame counter), then one or more
    /// <c> 0x%08x</c>, then a newline and the NUL the kernel's read copies too. Null for anything else.
    /// </summary>
    internal static DrmCrc? Parse(ReadOnlySpan<byte> line)
    {
        if (line.Length > 0 && line[^1] == 0)
        {
            line = line[..^1];
        }

        if (line.Length < 1 || line[^1] != (byte)'\n')
        {
            return null;
        }

        string text = Encoding.ASCII.GetString(line[..^1]);
        string[] fields = text.Split(' ');
        if (fields.Length < 2)
        {
            return null;
        }

        uint? frame = null;
        if (fields[0] != "XXXXXXXXXX")
        {
            if (!TryHex(fields[0], out uint f))
            {
                return null;
            }

            frame = f;
        }

        var values = new uint[fields.Length - 1];
        for (int i = 0; i < values.Length; i++)
        {
            if (!TryHex(fields[i + 1], out values[i]))
            {
                return null;
            }
        }

        return new DrmCrc(frame, values);
    }

    private static bool TryHex(string field, out uint value)
    {
        value = 0;
        return field.Length == 10 && field.StartsWith("0x", StringComparison.Ordinal)
            && uint.TryParse(field.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
