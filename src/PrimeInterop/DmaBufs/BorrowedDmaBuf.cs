using PrimeInterop.Interop;

namespace PrimeInterop;

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

    /// <summary>
    /// The fd number, for a native call made inside the scope: open until the scope ends, and not after. The scope
    /// owns it and closes it when it ends, so never wrap it in a handle that owns its fd (<c>new SafeFileHandle(fd,
    /// true)</c>, <see cref="DmaBuf.FromFileDescriptor"/> with <c>ownsHandle: true</c>): the fd would be closed twice,
    /// the second time under whatever file reused its number. To keep the buffer, <see cref="Duplicate"/> it.
    /// </summary>
    /// <exception cref="InvalidOperationException">This is <c>default</c>, not lent by a scope.</exception>
    public int DangerousGetFileDescriptor() => _fdPlusOne > 0 ? _fdPlusOne - 1 : throw new InvalidOperationException("This BorrowedDmaBuf was not lent by a scope.");

    /// <summary>A close-on-exec dup of the lent fd in a <see cref="DmaBuf"/> of its own, which outlives the scope.</summary>
    /// <exception cref="InvalidOperationException">This is <c>default</c>, not lent by a scope.</exception>
    public DmaBuf Duplicate()
    {
        var copy = new DmaBuf(fd: -1, ownsHandle: true); // before the call that makes the fd
        int fd = DangerousGetFileDescriptor();
        ThrowHelper.ThrowIfError(Libc.DupCloseOnExec(fd, out int dup), Libc.Operation.DupCloseOnExec, "dma-buf", fd: fd);
        copy.Own(dup);
        return copy;
    }

    /// <inheritdoc/>
    public override string ToString() => _fdPlusOne > 0 ? $"dma-buf fd {_fdPlusOne - 1} (scoped)" : "dma-buf (none)";
}

/// <summary>
/// The body of a <see cref="DrmDevice.ExportScoped{TState}(GemHandle, ref TState, BorrowedDmaBufAction{TState})"/>
/// scope; <paramref name="dmaBuf"/> is <c>scoped</c> like the handle of <see cref="BorrowedGemHandleAction{TState}"/>.
/// </summary>
/// <typeparam name="TState">Whatever the body needs; may be a ref struct.</typeparam>
public delegate void BorrowedDmaBufAction<TState>(scoped BorrowedDmaBuf dmaBuf, ref TState state)
    where TState : allows ref struct;
