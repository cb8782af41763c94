using System.Diagnostics;
using System.Runtime.CompilerServices;
using PrimeInterop;
using Wayland.Wire;

namespace PrimeComp;

/// <summary>Sees every frame after its flip (the verification of a run); it may commit states of its own, the next frame restores the scene.</summary>
internal interface IFrameObserver
{
    /// <param name="flip">The flip's event.</param>
    /// <param name="shown">The surfaces on planes now (their <see cref="Surface.OnScreen"/> and <see cref="Surface.Placement"/>).</param>
    /// <param name="fresh">Those among them whose buffer is new on the screen with this flip.</param>
    ValueTask OnFlipAsync(DrmEvent flip, IReadOnlyList<Surface> shown, IReadOnlyList<Surface> fresh);
}

/// <content>The repaint loop: one atomic commit per frame, awaited through the library, then callbacks and releases.</content>
public sealed partial class Compositor
{
    private readonly DrmAtomicRequest _request = new(); // reused: a frame's commit allocates nothing
    private readonly List<Surface> _shown = [];
    private readonly List<ClientBuffer> _latched = [];
    private readonly List<Surface> _fresh = [];
    private readonly List<WaylandResource> _callbacks = [];
    private readonly HashSet<uint> _scannedOut = [];
    private readonly SemaphoreSlim _kms = new(1); // the repaint loop's, or a stage's that commits states of its own
    private CancellationTokenSource _deadline = new(); // reused for every frame's waits while it does not fire

    /// <summary>Completes when the repaint loop ended: at Dispose, or faulted when the driver refused a frame or never flipped.</summary>
    public Task RepaintCompletion => _repaintLoop;

    internal IFrameObserver? Observer { get; set; }

    /// <summary>The framebuffer ids clients' buffers were scanned out from (a buffer imported once has one for its life).</summary>
    internal IReadOnlyCollection<uint> ScannedOutFramebuffers => _scannedOut;

    /// <summary>Lets a stage commit states of its own between frames: the repaint loop waits until it is disposed.</summary>
    internal async ValueTask<IDisposable> HoldOutputAsync()
    {
        await _kms.WaitAsync();
        return new OutputHold(_kms);
    }

    /// <summary>
    /// The next flip event of the frame tagged <paramref name="userData"/>, awaited through the library's poller (no
    /// thread waits), with <see cref="CompositorOptions.FlipTimeout"/>.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per frame: a pooled state machine, not a new one
    internal async ValueTask<DrmEvent> ReadFlipAsync(ulong userData)
    {
        _deadline.CancelAfter(_options.FlipTimeout); // a timer of the CTS's own, reused for every frame
        try
        {
            while (true)
            {
                DrmEvent e = await Card.ReadEventAsync(_deadline.Token);
                if (e.Type == DrmEventType.FlipComplete && e.UserData == userData)
                {
                    return e;
                }
            }
        }
        catch (OperationCanceledException) when (_deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"{Card.Path}: no page flip for frame {userData} within {_options.FlipTimeout.TotalSeconds} s");
        }
        finally
        {
            ResetDeadline();
        }
    }

    private async Task RepaintLoopAsync()
    {
        while (true)
        {
            await _repaint.WaitAsync();
            if (_stopping)
            {
                return;
            }

            await _kms.WaitAsync();
            try
            {
                await RepaintAsync();
            }
            finally
            {
                _kms.Release();
            }
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))] // per frame: a pooled state machine, not a new one
    private async ValueTask RepaintAsync()
    {
        // Due callbacks go out after this frame's flip, whether or not their surface is on a plane.
        foreach (Surface s in _surfaces)
        {
            _callbacks.AddRange(s.DueCallbacks);
            s.DueCallbacks.Clear();
        }

        // The mapped surfaces (an xdg toplevel whose configure was acked, with a buffer), oldest first, one per plane.
        foreach (Surface s in _surfaces)
        {
            s.Placement = (-1, 0, 0);
        }

        _shown.Clear();
        _latched.Clear();
        foreach (Surface s in _surfaces)
        {
            if (!s.IsDestroyed && s.Committed is not null && s.Xdg is { Acked: true } && _shown.Count < Output.Planes.Count)
            {
                _shown.Add(s);
            }
        }

        // A buffer new to the screen: the client's rendering into it must be done (its implicit fences). One that is
        // not ready in time waits for the next frame, and its surface shows its old buffer (if any) in this one.
        for (int i = 0; i < _shown.Count; i++)
        {
            Surface s = _shown[i];
            ClientBuffer next = s.Committed!;
            if (next != s.OnScreen && !await IsReadyAsync(next))
            {
                Log($"{s}: {next} was not ready within {_options.FenceTimeout.TotalMilliseconds} ms; it waits for the next frame");
                if (s.OnScreen is null)
                {
                    _shown.RemoveAt(i--);
                    continue;
                }

                next = s.OnScreen;
                _repaint.Set();
            }

            _latched.Add(next);
        }

        if (_shown.Count == 0)
        {
            if (Output.IsOn)
            {
                Output.Reset(); // nothing to show: the CRTC goes off (a blocking commit, no flip to wait for)
            }

            AfterFrame((uint)Environment.TickCount64);
            return;
        }

        bool modeset = !Output.IsOn;
        _request.Clear();
        if (modeset)
        {
            Output.AddModeset(_request);
        }

        int columns = _shown.Count == 1 ? 1 : 2, rows = (_shown.Count + columns - 1) / columns;
        int cellWidth = Output.Width / columns, cellHeight = Output.Height / rows;
        for (int i = 0; i < Output.Planes.Count; i++)
        {
            if (i >= _shown.Count)
            {
                Output.AddPlaneOff(_request, i);
                continue;
            }

            ClientBuffer b = _latched[i];
            int x = (i % columns * cellWidth) + ((cellWidth - (int)b.Width) / 2), y = (i / columns * cellHeight) + ((cellHeight - (int)b.Height) / 2);
            Output.AddPlane(_request, i, b.Framebuffer, x, y, b.Width, b.Height, b.YInvert);
            _shown[i].Placement = (i, x, y);
        }

        ulong frame = (ulong)Flips + 1;
        long start = Stopwatch.GetTimestamp();
        Card.CommitAtomic(_request, DrmAtomicCommitFlags.PageFlipEvent | (modeset ? DrmAtomicCommitFlags.AllowModeset : DrmAtomicCommitFlags.Nonblock), frame);
        Output.SetOn(true);
        DrmEvent flip = await ReadFlipAsync(frame);
        _commitToFlip.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        Flips++;

        // On the screen now: the latched buffers. Those they replaced, and those of surfaces that lost their plane, leave it.
        _fresh.Clear();
        for (int i = 0; i < _shown.Count; i++)
        {
            Surface s = _shown[i];
            if (s.OnScreen != _latched[i])
            {
                ClientBuffer? old = s.OnScreen;
                s.OnScreen = _latched[i].Hold();
                old?.Drop();
                _scannedOut.Add(s.OnScreen.Framebuffer.Id);
                s.FramesShown++;
                _fresh.Add(s);
            }
        }

        AfterFrame((uint)(flip.Timestamp.Ticks / TimeSpan.TicksPerMillisecond));
        if (Observer is { } observer)
        {
            await observer.OnFlipAsync(flip, _shown, _fresh);
        }
    }

    /// <summary>Buffers off the screen are dropped (released), gone surfaces forgotten, due callbacks done.</summary>
    private void AfterFrame(uint time)
    {
        for (int i = 0; i < _surfaces.Count; i++)
        {
            Surface s = _surfaces[i];
            if (s.Placement.Plane < 0 && s.OnScreen is { } off)
            {
                s.OnScreen = null;
                off.Drop();
            }

            if (s.IsDestroyed && s.OnScreen is null)
            {
                _surfaces.RemoveAt(i--);
            }
        }

        foreach (WaylandResource callback in _callbacks)
        {
            if (!callback.IsDestroyed)
            {
                WlCallback.SendDone(callback, time);
            }
        }

        _callbacks.Clear();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per frame: a pooled state machine, not a new one
    private async ValueTask<bool> IsReadyAsync(ClientBuffer buffer)
    {
        _deadline.CancelAfter(_options.FenceTimeout);
        try
        {
            await buffer.WaitReadyAsync(_deadline.Token);
            return true;
        }
        catch (OperationCanceledException) when (_deadline.IsCancellationRequested)
        {
            return false;
        }
        finally
        {
            ResetDeadline();
        }
    }

    private void ResetDeadline()
    {
        if (!_deadline.TryReset())
        {
            _deadline.Dispose(); // it fired: a new one (only after a timeout)
            _deadline = new CancellationTokenSource();
        }
    }

    private sealed class OutputHold(SemaphoreSlim kms) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                kms.Release();
            }
        }
    }
}
