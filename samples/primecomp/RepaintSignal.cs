using System.Threading.Tasks.Sources;

namespace PrimeComp;

/// <summary>
/// "Something changed, paint a frame": set by a surface's commit or destruction, awaited by the repaint loop. One
/// awaiter at a time, reused for every frame (no allocation); a Set while nobody waits is kept for the next wait.
/// Loop thread only.
/// </summary>
internal sealed class RepaintSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private bool _waiting;
    private bool _set;

    public void Set()
    {
        if (_waiting)
        {
            _waiting = false;
            _core.SetResult(true);
        }
        else
        {
            _set = true;
        }
    }

    public ValueTask WaitAsync()
    {
        if (_set)
        {
            _set = false;
            return ValueTask.CompletedTask;
        }

        _core.Reset();
        _waiting = true;
        return new ValueTask(this, _core.Version);
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
