using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>Range checks shared by every mapping, overflow-proof.</summary>
internal static class MappingRange
{
    /// <summary>The length to map (<paramref name="length"/>, or the rest of the object when it is -1).</summary>
    public static long Validate(long size, long offset, long length)
    {
        long page = Environment.SystemPageSize;
        if (offset < 0 || offset % page != 0 || offset >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                $"The offset must be a multiple of the page size ({page}) inside the {size}-byte buffer.");
        }

        if (length == -1)
        {
            length = size - offset;
        }

        if (length <= 0 || length > size - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"Mapping {length} bytes at offset {offset} does not fit the {size}-byte buffer.");
        }

        if (length > MappingHandle.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length,
                $"A mapping is at most {MappingHandle.MaxLength} bytes (a Span<byte>'s limit); map this {size}-byte buffer in windows (offset, length).");
        }

        return length;
    }
}
