namespace PrimeInterop;

/// <summary>
/// A caller's list, copied before it is checked: what is validated is then exactly what is used. A list's Count is
/// not trusted (a list may report 1 and yield millions), and neither is a second read of an item (which may differ).
/// </summary>
internal static class ArgumentCopy
{
    /// <summary>
    /// The items of <paramref name="items"/>, in order, read once; ArgumentOutOfRangeException as soon as it yields
    /// more than <paramref name="max"/>, without reading on.
    /// </summary>
    public static T[] AtMost<T>(IReadOnlyList<T> items, int max, string paramName)
    {
        ArgumentNullException.ThrowIfNull(items, paramName);
        var copy = new T[Math.Clamp(items.Count, 0, max)];
        int count = 0;
        foreach (T item in items)
        {
            if (count == copy.Length)
            {
                if (count == max)
                {
                    throw new ArgumentOutOfRangeException(paramName, $"{paramName} holds more than {max} items.");
                }

                Array.Resize(ref copy, Math.Min(Math.Max(count * 2, 4), max));
            }

            copy[count++] = item;
        }

        if (count < copy.Length)
        {
            Array.Resize(ref copy, count);
        }

        return copy;
    }
}
