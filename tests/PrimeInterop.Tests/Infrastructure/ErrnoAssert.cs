using PrimeInterop.Interop;

namespace PrimeInterop.Tests.Infrastructure;

/// <summary>
/// The one way the tests check an errno: against the library's own constants (<see cref="Errno"/>), reported by
/// name (EBADF, not 9) with the exception's message when it differs.
/// </summary>
public static class ErrnoAssert
{
    /// <summary>The kernel's answer in <paramref name="e"/> was <paramref name="expected"/>.</summary>
    public static void Equal(int expected, DrmException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        Assert.True(e.Errno == expected, $"expected {Errno.Name(expected)}, got {Errno.Name(e.Errno)}: {e.Message}");
    }

    /// <summary>An interop call returned <paramref name="expected"/> (0 or an errno).</summary>
    public static void Equal(int expected, int actual) =>
        Assert.True(actual == expected, $"expected {(expected == 0 ? "success" : Errno.Name(expected))}, got {(actual == 0 ? "success" : Errno.Name(actual))}");
}
