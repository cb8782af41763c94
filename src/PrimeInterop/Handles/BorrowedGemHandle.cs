namespace PrimeInterop;

/// <summary>
/// A GEM handle reference that lives exactly as long as the <see cref="DrmDevice.ImportScoped{TState}(System.Runtime.InteropServices.SafeHandle, ref TState, BorrowedGemHandleAction{TState})"/>
/// scope that lent it: counted in the device's handle table like a <see cref="GemHandle"/> (so a duplicate import
/// shares the handle with every other reference), released when the scope ends, also by an exception. It costs no
/// allocation. Being a ref struct passed <c>scoped</c>, it cannot be stored in a field, captured, or kept past
/// the scope; keep a <see cref="GemHandle"/> for anything that must live longer.
/// </summary>
public readonly ref struct BorrowedGemHandle
{
    internal BorrowedGemHandle(DrmDevice device, uint value)
    {
        Device = device;
        Value = value;
    }

    /// <summary>The device (open DRM file) whose handle namespace the handle lives in; null only for <c>default</c>.</summary>
    public DrmDevice? Device { get; }

    /// <summary>The kernel's handle number: valid in <see cref="Device"/>'s file until the scope ends, and not after.</summary>
    public uint Value { get; }

    /// <inheritdoc/>
    public override string ToString() => Device is null ? "GEM handle (none)" : $"GEM handle {Value} on {Device.Path} (scoped)";
}

/// <summary>
/// The body of a <see cref="DrmDevice.ImportScoped{TState}(System.Runtime.InteropServices.SafeHandle, ref TState, BorrowedGemHandleAction{TState})"/>
/// scope. <paramref name="handle"/> is <c>scoped</c>: the compiler keeps it from being stored anywhere that outlives
/// the call. Use a <c>static</c> lambda and pass what it needs in <paramref name="state"/>, so nothing is allocated.
/// </summary>
/// <typeparam name="TState">Whatever the body needs; may be a ref struct (a Span, say).</typeparam>
public delegate void BorrowedGemHandleAction<TState>(scoped BorrowedGemHandle handle, ref TState state)
    where TState : allows ref struct;
