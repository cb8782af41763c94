using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using PrimeInterop;
using Wayland.Wire;

namespace WlShow;

/// <summary>What a choice among the compositor's formats came to, and why (for the user).</summary>
public sealed record DmaBufChoice(ulong Modifier, string Explanation);

/// <summary>
/// linux-dmabuf v4's default feedback (<c>get_default_feedback</c>): the format table (a memory file, mapped
/// read-only and bound-checked), the main device and the tranches in the compositor's order of preference. Every
/// index is checked against the table; one that is out of range is dropped and counted, not trusted.
/// </summary>
public sealed class DmaBufFeedback : ZwpLinuxDmabufFeedbackV1.IEvents
{
    private readonly List<DmaBufTranche> _pending = [];
    private FormatModifier[] _table = [];
    private DrmDeviceNumber? _mainDevice;
    private DrmDeviceNumber? _trancheDevice;
    private uint _trancheFlags;
    private List<FormatModifier> _trancheFormats = [];

    /// <summary>Set once the first <c>done</c> arrived.</summary>
    public bool IsDone { get; private set; }

    public IReadOnlyList<FormatModifier> Table => _table;

    public DrmDeviceNumber? MainDevice { get; private set; }

    public IReadOnlyList<DmaBufTranche> Tranches { get; private set; } = [];

    /// <summary>Tranche indices beyond the table, dropped.</summary>
    public int InvalidIndices { get; private set; }

    /// <summary>
    /// The modifier to send <paramref name="format"/> with, for buffers laid out linearly (dumb buffers): the first
    /// tranche, in the compositor's order, that targets <paramref name="device"/> (the main device when null) and
    /// lists the format with LINEAR, else with INVALID (the implicit layout, linear for dumb buffers). Null when none does.
    /// </summary>
    public DmaBufChoice? Choose(DrmFourcc format, DrmDeviceNumber? device)
    {
        DrmDeviceNumber? target = device ?? MainDevice;
        var candidates = Tranches.Select((t, i) => (Tranche: t, Index: i)).Where(t => target is null || t.Tranche.TargetDevice == target).ToList();
        foreach (ulong modifier in (ulong[])[DmaBufDescription.LinearModifier, DmaBufDescription.InvalidModifier])
        {
            foreach (var (t, i) in candidates)
            {
                if (t.Formats.Contains(new FormatModifier(format.Value, modifier)))
                {
                    return new DmaBufChoice(modifier,
                        $"linux-dmabuf v4 feedback: format table of {_table.Length} entries, main device {MainDevice}; " +
                        $"tranche {i + 1} of {Tranches.Count} (device {t.TargetDevice}, flags {t.Flags}, {t.Formats.Count} formats) " +
                        $"offers {format} with {ModifierName(modifier)}");
                }
            }
        }

        return null;
    }

    /// <summary>Every modifier any tranche offers for <paramref name="format"/>.</summary>
    public IEnumerable<ulong> ModifiersOf(DrmFourcc format) =>
        Tranches.SelectMany(t => t.Formats).Where(f => f.Format == format.Value).Select(f => f.Modifier).Distinct();

    internal static string ModifierName(ulong modifier) => modifier switch
    {
        DmaBufDescription.LinearModifier => "modifier LINEAR (0x0)",
        DmaBufDescription.InvalidModifier => "modifier INVALID (implicit, 0xffffffffffffff)",
        _ => $"modifier 0x{modifier:x}",
    };

    void ZwpLinuxDmabufFeedbackV1.IEvents.FormatTable(WaylandProxy self, SafeFileHandle fd, uint size)
    {
        using (fd)
        {
            _table = DmaBufFormatTable.Read(fd, size);
        }
    }

    void ZwpLinuxDmabufFeedbackV1.IEvents.MainDevice(WaylandProxy self, ReadOnlySpan<byte> device) => _mainDevice = DrmDeviceNumber.FromWire(device);

    void ZwpLinuxDmabufFeedbackV1.IEvents.TrancheTargetDevice(WaylandProxy self, ReadOnlySpan<byte> device) => _trancheDevice = DrmDeviceNumber.FromWire(device);

    void ZwpLinuxDmabufFeedbackV1.IEvents.TrancheFlags(WaylandProxy self, uint flags) => _trancheFlags = flags;

    void ZwpLinuxDmabufFeedbackV1.IEvents.TrancheFormats(WaylandProxy self, ReadOnlySpan<byte> indices)
    {
        if (indices.Length % 2 != 0)
        {
            throw new InvalidDataException($"{self}.tranche_formats: an array of {indices.Length} bytes is not 16-bit indices");
        }

        for (int i = 0; i < indices.Length; i += 2)
        {
            ushort index = BinaryPrimitives.ReadUInt16LittleEndian(indices[i..]);
            if (index < _table.Length)
            {
                _trancheFormats.Add(_table[index]);
            }
            else
            {
                InvalidIndices++;
            }
        }
    }

    void ZwpLinuxDmabufFeedbackV1.IEvents.TrancheDone(WaylandProxy self)
    {
        _pending.Add(new DmaBufTranche(_trancheDevice ?? _mainDevice ?? default, _trancheFlags, _trancheFormats));
        _trancheFormats = [];
        _trancheFlags = 0;
        _trancheDevice = null;
    }

    void ZwpLinuxDmabufFeedbackV1.IEvents.Done(WaylandProxy self)
    {
        Tranches = [.. _pending];
        _pending.Clear();
        MainDevice = _mainDevice;
        IsDone = true;
    }
}
