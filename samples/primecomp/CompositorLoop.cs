namespace PrimeComp;

/// <summary>
/// The compositor's one thread, as libwayland's <c>wl_event_loop</c> is a C compositor's: a SynchronizationContext
/// whose queue this thread runs, so that every continuation (a client's socket became readable, a page flip, a fence)
/// runs here, one at a time. The wire library and the scene are single-threaded; only this thread touches them.
/// </summary>
internal sealed class CompositorLoop : SynchronizationContext, IDisposable
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _work = new(0); // counts queued items; a wait on it allocates nothing once warm
    private readonly Queue<(SendOrPostCallback Callback, object? State)> _queue = new();
    private readonly Action _afterBatch;
    private readonly Thread _thread;
    private volatile bool _stopping;

    /// <param name="name">The thread's name.</param>
    /// <param name="afterBatch">Runs whenever the queue is empty (and at least every <paramref name="tick"/>): the events queued by the work are sent then, batched.</param>
    /// <param name="tick">How often <paramref name="afterBatch"/> runs while nothing happens (a client whose socket was full gets the rest then).</param>
    public CompositorLoop(string name, Action afterBatch, TimeSpan tick)
    {
        _afterBatch = afterBatch;
        Tick = tick;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public TimeSpan Tick { get; }

    /// <summary>The first exception a queued callback let out (a bug of the compositor, not a client's); the loop goes on.</summary>
    public Exception? Failure { get; private set; }

    public bool IsLoopThread => Thread.CurrentThread == _thread;

    public override void Post(SendOrPostCallback d, object? state)
    {
        lock (_gate)
        {
            _queue.Enqueue((d, state));
        }

        _work.Release();
    }

    public override void Send(SendOrPostCallback d, object? state) => Invoke(() => d(state));

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs <paramref name="f"/> on the loop and waits for its result (for the CLI and the tests).</summary>
    public T Invoke<T>(Func<T> f)
    {
        if (IsLoopThread)
        {
            return f();
        }

        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(_ =>
        {
            try
            {
                done.SetResult(f());
            }
#pragma warning disable CA1031 // handed to the caller's thread
            catch (Exception e)
#pragma warning restore CA1031
            {
                done.SetException(e);
            }
        }, null);
        return done.Task.GetAwaiter().GetResult();
    }

    public void Invoke(Action a) => Invoke(() =>
    {
        a();
        return true;
    });

    /// <summary>Starts <paramref name="f"/> on the loop (its awaits come back here) and returns its task.</summary>
    public Task<T> RunAsync<T>(Func<Task<T>> f) => Invoke(f);

    /// <summary>Starts <paramref name="f"/> on the loop (its awaits come back here) and returns its task.</summary>
    public Task RunAsync(Func<Task> f) => Invoke(f);

    /// <summary>Stops the thread once the queue is empty; call from another thread.</summary>
    public void Dispose()
    {
        _stopping = true;
        _work.Release();
        if (!IsLoopThread)
        {
            _thread.Join();
        }

        _work.Dispose();
    }

    private void Run()
    {
        SetSynchronizationContext(this);
        while (true)
        {
            (SendOrPostCallback Callback, object? State) item = default;
            bool got = _work.Wait(Tick);
            if (got)
            {
                lock (_gate)
                {
                    if (!_queue.TryDequeue(out item))
                    {
                        if (_stopping)
                        {
                            return;
                        }

                        continue; // the release of Dispose
                    }
                }
            }

            try
            {
                if (got)
                {
                    item.Callback!(item.State);
                }

                if (!got || _work.CurrentCount == 0)
                {
                    _afterBatch();
                }
            }
#pragma warning disable CA1031 // a bug of the compositor, not a client's: kept for its owner (Failure), and the loop goes on
            catch (Exception e)
#pragma warning restore CA1031
            {
                Failure ??= e;
            }
        }
    }
}
