using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A mapping of a dumb buffer (<see cref="DumbBuffer.Map"/>, through the device); unmapped on dispose, or by the
/// finalizer if it is never disposed. The memory is reached only through a <see cref="BeginAccess"/> scope, which holds the mapping:
/// no span can point at unmapped memory, even when the mapping object itself is no longer referenced.
/// </summary>
public sealed class DumbBufferMapping : IDisposable
{
    private readonly MappingHandle _memory;
    private volatile bool _disposed; // the handle itself stays open while a scope holds it

    internal DumbBufferMapping(IntPtr address, long length)
    {
        _memory = new MappingHandle(address, length, parent: null);
        Length = length;
    }

    /// <summary>The mapped length in bytes.</summary>
    public long Length { get; }

    /// <summary>Opens the memory for the CPU; the scope holds the mapping until it is disposed (always <c>using</c> it).</summary>
    public DumbBufferCpuAccess BeginAccess()
    {
        if (!_disposed)
        {
            try
            {
                var lease = new HandleLease(_memory);
                return new DumbBufferCpuAccess(lease, _memory.Span());
            }
            catch (ObjectDisposedException)
            {
            }
        }

        throw new ObjectDisposedException(nameof(DumbBufferMapping), "The mapping has been disposed.");
    }

    /// <summary>Unmaps the memory now, or, while an access scope is open, when the last one ends.</summary>
    public void Dispose()
    {
        _disposed = true;
        _memory.Dispose();
    }
}

/// <summary>An access scope on a <see cref="DumbBufferMapping"/>: its span is valid, and the memory mapped, until it is disposed.</summary>
public ref struct DumbBufferCpuAccess
{
    private HandleLease _lease;

    internal DumbBufferCpuAccess(HandleLease lease, Span<byte> span)
    {
        _lease = lease;
        Span = span;
    }

    /// <summary>The mapped bytes; valid until this scope is disposed.</summary>
    public Span<byte> Span { get; private set; }

    /// <summary>Releases the mapping (it is unmapped now if its owner was disposed or finalized meanwhile).</summary>
    public void Dispose()
    {
        Span = default;
        HandleLease lease = _lease;
        _lease = default;
        lease.Dispose();
    }
}
