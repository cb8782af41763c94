namespace PrimeInterop.Tests.Infrastructure;

/// <summary>A recognisable byte pattern: each 32-bit word holds its own index mixed with a seed.</summary>
public static class Pattern
{
    public static void Fill(Span<byte> bytes, uint seed)
    {
        for (int i = 0; i + 4 <= bytes.Length; i += 4)
        {
            BitConverter.TryWriteBytes(bytes[i..], Word(i / 4, seed));
        }
    }

    /// <summary>The index of the first wrong word, or -1.</summary>
    public static int FirstMismatch(ReadOnlySpan<byte> bytes, uint seed)
    {
        for (int i = 0; i + 4 <= bytes.Length; i += 4)
        {
            if (BitConverter.ToUInt32(bytes[i..]) != Word(i / 4, seed))
            {
                return i / 4;
            }
        }

        return -1;
    }

    private static uint Word(int index, uint seed) => ((uint)index * 2654435761u) ^ seed;
}
