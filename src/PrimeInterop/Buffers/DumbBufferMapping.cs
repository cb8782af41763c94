using System.Diagnostics.CodeAnalysis;
using PrimeInterop.Interop;

namespace PrimeInterop;

/// <summary>
/// A mapping of a dumb buffer (<see cref="DumbBuffer.Map"/>, through the device); unmapped on dispose, or by the
/// finalizer if it is never disposed. The memory is reached only through a <see cref="BeginAccess"/> scope, which holds the mapping:
/// no span can point at unmapped memory, even when the mapping object itself is no longer referenced.
/// </summary>
public sealed class DumbBufferMapping : IDisposable
{
    private readonly MappingHandle _memory; // with the holds of this mapping and of each open access scope

    internal DumbBufferMapping(IntPtr address, long length)
    {
        _memory = new MappingHandle(address, length, parent: null);
        Length = length;
    }

    /// <summary>The mapped length in bytes.</summary>
    public long Length { get; }

    /// <summary>Opens the memory for the CPU; the scope holds the mapping until it is disposed (always <c>using</c> it).</summary>
    public DumbBufferCpuAccess BeginAccess() => new(_memory, _memory.Begin(nameof(DumbBufferMapping)));

    /// <summary>Unmaps the memory now, or, while an access scope is open, when the last one ends.</summary>
    public void Dispose() => _memory.DisposeOwner();
}

/// <summary>
/// An access scope on a <see cref="DumbBufferMapping"/>: its span is valid, and the memory mapped, until it is disposed.
/// As with <see cref="DmaBufCpuAccess"/>, the span cannot be returned out of the method that began the scope, and
/// copies of a scope are the same scope: the first Dispose of any copy ends it, once.
/// </summary>
public ref struct DumbBufferCpuAccess
{
    private readonly MappingHandle? _memory; // null: default, never begun
    private readonly AccessScope _scope;

    internal DumbBufferCpuAccess(MappingHandle memory, AccessScope scope)
    {
        _memory = memory;
        _scope = scope;
    }

    /// <summary>
    /// The mapped bytes, while the scope is open. It lives no longer than the variable that holds this scope (the
    /// compiler refuses to return it from the method); after the scope ended, through any copy, reading it throws.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The scope has ended (or this is <c>default</c>).</exception>
    public readonly Span<byte> Span
    {
        [UnscopedRef]
        get => _memory is { } memory && memory.IsOpen(_scope) ? memory.Span() : AccessScope.ThrowEnded(nameof(DumbBufferCpuAccess));
    }

    /// <summary>
    /// Releases the mapping (it is unmapped now if its owner was disposed or finalized meanwhile); once, whichever
    /// copy of the scope is disposed first.
    /// </summary>
    public readonly void Dispose()
    {
        if (_memory is { } memory && memory.IsOpen(_scope))
        {
            memory.End(_scope);
        }
    }
}
