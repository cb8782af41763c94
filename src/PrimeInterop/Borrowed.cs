namespace PrimeInterop;

/// <summary>
/// The body of a <see cref="DrmDevice.ImportScoped{TState}(System.Runtime.InteropServices.SafeHandle, ref TState, BorrowedGemHandleAction{TState})"/>
/// scope. <paramref name="handle"/> is <c>scoped</c>: the compiler keeps it from being stored anywhere that outlives
/// the call. Use a <c>static</c> lambda and pass what it needs in <paramref name="state"/>, so nothing is allocated.
/// </summary>
/// <typeparam name="TState">Whatever the body needs; may be a ref struct (a Span, say).</typeparam>
public delegate void BorrowedGemHandleAction<TState>(scoped BorrowedGemHandle handle, ref TState state)
    where TState : allows ref struct;

/// <summary>
/// The body of a <see cref="DrmDevice.ExportScoped{TState}(GemHandle, ref TState, BorrowedDmaBufAction{TState})"/>
/// scope; <paramref name="dmaBuf"/> is <c>scoped</c> like the handle of <see cref="BorrowedGemHandleAction{TState}"/>.
/// </summary>
/// <typeparam name="TState">Whatever the body needs; may be a ref struct.</typeparam>
public delegate void BorrowedDmaBufAction<TState>(scoped BorrowedDmaBuf dmaBuf, ref TState state)
    where TState : allows ref struct;

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
/// A dma-buf fd that lives exactly as long as the <see cref="DrmDevice.ExportScoped{TState}(GemHandle, ref TState, BorrowedDmaBufAction{TState})"/>
/// scope that lent it (close-on-exec, closed once when the scope ends, also by an exception). No SafeHandle, no
/// allocation. Import it with <see cref="DrmDevice.ImportScoped{TState}(BorrowedDmaBuf, ref TState, BorrowedGemHandleAction{TState})"/>;
/// for anything that must outlive the scope, export a <see cref="DmaBuf"/> instead.
/// </summary>
public readonly ref struct BorrowedDmaBuf
{
    private readonly int _fdPlusOne; // 0 for default(BorrowedDmaBuf), which must not read as fd 0

    internal BorrowedDmaBuf(int fd) => _fdPlusOne = fd + 1;

    /// <summary>The fd number: open until the scope ends, and not after.</summary>
    /// <exception cref="InvalidOperationException">This is <c>default</c>, not lent by a scope.</exception>
    public int FileDescriptor => _fdPlusOne > 0 ? _fdPlusOne - 1 : throw new InvalidOperationException("This BorrowedDmaBuf was not lent by a scope.");

    /// <inheritdoc/>
    public override string ToString() => _fdPlusOne > 0 ? $"dma-buf fd {_fdPlusOne - 1} (scoped)" : "dma-buf (none)";
}
