using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;

namespace Wayland.Wire;

/// <summary>One entry of linux-dmabuf v4's format table: a DRM fourcc and a modifier.</summary>
public readonly record struct FormatModifier(uint Format, ulong Modifier);

/// <summary>
/// linux-dmabuf v4's format table, both sides: the compositor writes its (format, modifier) pairs into a sealed
/// memory file and sends it with <c>format_table(fd, size)</c>; tranches then name entries by 16-bit index. Each
/// entry is 16 bytes: format (u32), padding (u32), modifier (u64), host byte order.
/// </summary>
public static class DmaBufFormatTable
{
    public const int EntrySize = 16;

    /// <summary>Tranche indices are 16-bit, so no table has more entries.</summary>
    public const int MaxEntries = 65536;

    /// <summary>The table as a sealed memfd, and its size for <c>format_table</c>.</summary>
    public static SafeFileHandle Create(IReadOnlyList<FormatModifier> entries, out uint size)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(entries.Count, MaxEntries);
        byte[] bytes = new byte[entries.Count * EntrySize];
        for (int i = 0; i < entries.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * EntrySize), entries[i].Format);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((i * EntrySize) + 8), entries[i].Modifier);
        }

        size = (uint)bytes.Length;
        return SharedMemory.CreateSealed("dmabuf-format-table", bytes);
    }

    /// <summary>
    /// Reads a compositor's table: the size must be whole entries, at most <see cref="MaxEntries"/>, and within the
    /// file (<see cref="SharedMemory.ReadPeerFile"/> checks it and maps the file read-only when it is sealed).
    /// </summary>
    /// <exception cref="InvalidDataException">The size or the file does not hold a table.</exception>
    public static FormatModifier[] Read(SafeFileHandle fd, uint size)
    {
        if (size % EntrySize != 0 || size / EntrySize > MaxEntries)
        {
            throw new InvalidDataException($"linux-dmabuf format table: {size} bytes is not a whole number of 16-byte entries (at most {MaxEntries}).");
        }

        byte[] bytes = SharedMemory.ReadPeerFile(fd, size, "linux-dmabuf format table");
        var entries = new FormatModifier[size / EntrySize];
        for (int i = 0; i < entries.Length; i++)
        {
            entries[i] = new FormatModifier(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * EntrySize)),
                BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((i * EntrySize) + 8)));
        }

        return entries;
    }
}

/// <summary>One tranche of linux-dmabuf v4 feedback: its target device, its flags (1: scanout) and its formats, in the compositor's order of preference.</summary>
public sealed record DmaBufTranche(DrmDeviceNumber TargetDevice, uint Flags, IReadOnlyList<FormatModifier> Formats);

/// <summary>A compositor's side of linux-dmabuf v4 feedback.</summary>
public static class DmaBufFeedbackEvents
{
    /// <summary>
    /// Sends a complete feedback: the table (<paramref name="table"/>'s entries in the sealed memfd
    /// <paramref name="tableFile"/> from <see cref="DmaBufFormatTable.Create"/>), the main device, each tranche (its
    /// formats as indices into the table), then <c>done</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A tranche names a pair the table does not hold.</exception>
    public static void Send(WaylandResource feedback, IReadOnlyList<FormatModifier> table, SafeFileHandle tableFile, uint tableSize, DrmDeviceNumber mainDevice,
        IEnumerable<DmaBufTranche> tranches)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(tranches);
        ZwpLinuxDmabufFeedbackV1.SendFormatTable(feedback, tableFile, tableSize);
        ZwpLinuxDmabufFeedbackV1.SendMainDevice(feedback, mainDevice.ToWire());
        foreach (DmaBufTranche t in tranches)
        {
            byte[] indices = new byte[t.Formats.Count * sizeof(ushort)];
            for (int i = 0; i < t.Formats.Count; i++)
            {
                int index = table.IndexOf(t.Formats[i]);
                BinaryPrimitives.WriteUInt16LittleEndian(indices.AsSpan(i * sizeof(ushort)),
                    index >= 0 ? (ushort)index : throw new ArgumentException($"{t.Formats[i]} is not in the format table", nameof(tranches)));
            }

            ZwpLinuxDmabufFeedbackV1.SendTrancheTargetDevice(feedback, t.TargetDevice.ToWire());
            ZwpLinuxDmabufFeedbackV1.SendTrancheFlags(feedback, t.Flags);
            ZwpLinuxDmabufFeedbackV1.SendTrancheFormats(feedback, indices);
            ZwpLinuxDmabufFeedbackV1.SendTrancheDone(feedback);
        }

        ZwpLinuxDmabufFeedbackV1.SendDone(feedback);
    }

    private static int IndexOf(this IReadOnlyList<FormatModifier> table, FormatModifier entry)
    {
        for (int i = 0; i < table.Count; i++)
        {
            if (table[i] == entry)
            {
                return i;
            }
        }

        return -1;
    }
}
