using System.Runtime.InteropServices;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>A pixel format with a format modifier: what a plane scans out, or what a client may send.</summary>
/// <param name="Code">The fourcc.</param>
/// <param name="Modifier">The modifier (0 is linear).</param>
public readonly record struct DrmFormat(DrmFourcc Code, ulong Modifier)
{
    /// <summary>
    /// Reads a plane's <c>IN_FORMATS</c> blob (<c>struct drm_format_modifier_blob</c>): every format and modifier pair
    /// the plane scans out, in the blob's order (by modifier, then format). Every count and offset is checked against
    /// the blob's length before it is read.
    /// </summary>
    /// <exception cref="ArgumentException">The blob is not a well-formed IN_FORMATS blob; the message says where.</exception>
    public static IReadOnlyList<DrmFormat> ParseInFormats(ReadOnlySpan<byte> blob)
    {
        int headerSize = Marshal.SizeOf<DrmModeProperty.drm_format_modifier_blob>();
        int entrySize = Marshal.SizeOf<DrmModeProperty.drm_format_modifier>();
        if (blob.Length < headerSize)
        {
            throw Malformed($"{blob.Length} bytes is shorter than its {headerSize}-byte header", nameof(blob));
        }

        var header = MemoryMarshal.Read<DrmModeProperty.drm_format_modifier_blob>(blob);
        if (header.version < DrmModeProperty.FORMAT_BLOB_CURRENT)
        {
            throw Malformed($"version {header.version} is unknown", nameof(blob));
        }

        ReadOnlySpan<byte> formatBytes = Slice(blob, header.formats_offset, header.count_formats, sizeof(uint), "formats");
        ReadOnlySpan<byte> modifierBytes = Slice(blob, header.modifiers_offset, header.count_modifiers, entrySize, "modifiers");
        var result = new List<DrmFormat>();
        for (int m = 0; m < header.count_modifiers; m++)
        {
            var entry = MemoryMarshal.Read<DrmModeProperty.drm_format_modifier>(modifierBytes[(m * entrySize)..]);
            for (int bit = 0; bit < 64; bit++)
            {
                long index = (long)entry.offset + bit;
                if ((entry.formats & (1UL << bit)) != 0 && index < header.count_formats)
                {
                    result.Add(new DrmFormat(new DrmFourcc(MemoryMarshal.Read<uint>(formatBytes[((int)index * sizeof(uint))..])), entry.modifier));
                }
            }
        }

        return result.AsReadOnly();
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Code}:0x{Modifier:x16}";

    private static ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> blob, uint offset, uint count, int size, string what)
    {
        ulong end = offset + ((ulong)count * (ulong)size); // at most 2^32 + 2^32 * 24: no overflow in 64 bits
        if (end > (ulong)blob.Length)
        {
            throw Malformed($"its {count} {what} at offset {offset} end at byte {end}, past its {blob.Length} bytes", nameof(blob));
        }

        return blob.Slice((int)offset, (int)(count * (ulong)size));
    }

    private static ArgumentException Malformed(string why, string paramName) => new($"Not an IN_FORMATS blob: {why}.", paramName);
}
