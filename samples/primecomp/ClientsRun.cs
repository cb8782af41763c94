using System.Diagnostics;
using System.Globalization;
using PrimeComp.Verification;
using PrimeInterop;

namespace PrimeComp;

/// <summary>What <see cref="ClientsRun"/> does.</summary>
public sealed record RunOptions
{
    /// <summary>weston-simple-dmabuf-egl processes at once, each on a plane of its own (vkms has 8 overlays with enable_overlay=1).</summary>
    public int Clients { get; init; } = 2;

    /// <summary>Frames of each client checked (picture and CRC) before the run goes on.</summary>
    public int VerifiedFrames { get; init; } = 60;

    /// <summary>Frames of each client shown unchecked afterwards, to measure the steady state (allocations, frame rate).</summary>
    public int MeasuredFrames { get; init; } = 60;

    /// <summary>Page flips of the library's calls alone (fence wait, commit, flip event), to measure their allocations.</summary>
    public int LibraryFlips { get; init; } = 30;

    /// <summary>The clients' window size (-s).</summary>
    public int Size { get; init; } = 256;

    /// <summary>native/clock-freeze.c's library (artifacts/native/libclock-freeze.so); without it the clients animate and pictures differ.</summary>
    public string? ClockShim { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(3);

    public Action<string>? Log { get; init; }
}

/// <summary>Everything a run saw and measured.</summary>
public sealed record RunReport
{
    public required int Clients { get; init; }

    public required IReadOnlyList<int> VerifiedFramesPerClient { get; init; }

    public required int BuffersCreated { get; init; }

    public required int Imports { get; init; }

    /// <summary>Distinct framebuffers the clients' frames were scanned out from.</summary>
    public required int FramebuffersScannedOut { get; init; }

    public required int CrcMatches { get; init; }

    public required int ReferenceCommits { get; init; }

    public required string LastCrc { get; init; }

    /// <summary>Per client: rows of its writeback that differ from its mapped pixels, of all rows.</summary>
    public required IReadOnlyList<(int Differing, int Rows)> Writeback { get; init; }

    public required int LeakedFds { get; init; }

    public required int LeakedHandles { get; init; }

    public required int LeakedFramebuffers { get; init; }

    public required double VerifiedFramesPerSecond { get; init; }

    public required double FramesPerSecond { get; init; }

    public required double FlipsPerSecond { get; init; }

    /// <summary>Commit to page-flip event, milliseconds: median, 90th percentile, maximum, over all frames.</summary>
    public required (double Median, double P90, double Max) CommitToFlip { get; init; }

    /// <summary>Bytes allocated by the whole process per page flip while the clients ran unchecked (the steady state).</summary>
    public required double BytesPerFlip { get; init; }

    /// <summary>Bytes allocated per page flip by the compositor's thread alone in the steady state (the wire library, the scene, the library's calls made there).</summary>
    public required double ThreadBytesPerFlip { get; init; }

    /// <summary>Bytes allocated per flip by the library's calls alone: the fence waits of its buffers, the atomic commit, the flip event's wait.</summary>
    public required (double Fences, double Commit, double Event) LibraryBytesPerFlip { get; init; }

    public required IReadOnlyList<string> Problems { get; init; }

    public required IReadOnlyList<string> ClientOutputs { get; init; }

    public bool Succeeded => Problems.Count == 0;

    /// <summary>The one line a run ends with.</summary>
    public string Summary => Succeeded
        ? $"compositor: {VerifiedFramesPerClient.Sum()} frames from {SimpleDmabufEglClient.Program} ({Clients} clients), {BuffersCreated} buffers imported once each, scan-out CRC matches the mapped pixels, writeback exact, 0 leaked fds/handles/framebuffers"
        : $"compositor: FAILED: {Problems[0]}";

    /// <summary>The measurements, a line each.</summary>
    public IEnumerable<string> Measurements =>
    [
        string.Create(CultureInfo.InvariantCulture, $"frames verified per client: {string.Join(", ", VerifiedFramesPerClient)} ({CrcMatches} CRCs matched, {ReferenceCommits} reference commits, last CRC {LastCrc})"),
        string.Create(CultureInfo.InvariantCulture, $"buffers: {BuffersCreated} created, {Imports} imports, {FramebuffersScannedOut} framebuffers scanned out"),
        string.Create(CultureInfo.InvariantCulture, $"writeback: {string.Join(", ", Writeback.Select(w => $"{w.Differing} of {w.Rows} rows differ"))}"),
        string.Create(CultureInfo.InvariantCulture, $"frame rate: {FramesPerSecond:0.0} client frames/s, {FlipsPerSecond:0.0} flips/s unchecked; {VerifiedFramesPerSecond:0.0} client frames/s checked"),
        string.Create(CultureInfo.InvariantCulture, $"commit to flip: median {CommitToFlip.Median:0.0} ms, p90 {CommitToFlip.P90:0.0} ms, max {CommitToFlip.Max:0.0} ms"),
        string.Create(CultureInfo.InvariantCulture, $"allocations: {BytesPerFlip:0} B per flip in the whole process, {ThreadBytesPerFlip:0} B on the compositor's thread (steady state, unchecked frames); {LibraryBytesPerFlip.Fences + LibraryBytesPerFlip.Commit + LibraryBytesPerFlip.Event:0} B per flip in the library's calls ({LibraryBytesPerFlip.Fences:0} B in {Clients} fence waits, {LibraryBytesPerFlip.Commit:0} B in the commit, {LibraryBytesPerFlip.Event:0} B in the flip event's wait)"),
        string.Create(CultureInfo.InvariantCulture, $"leaks: {LeakedFds} fds, {LeakedHandles} GEM handles, {LeakedFramebuffers} framebuffers"),
    ];
}

/// <summary>
/// The compositor with real clients: unmodified weston-simple-dmabuf-egl processes (one allocating on vkms with
/// create, one on vgem with create_immed, and so on), every frame checked until each client has shown
/// <see cref="RunOptions.VerifiedFrames"/>, then unchecked frames measured, writeback of each client's buffer, the
/// library's calls measured alone, and everything stopped and checked for leaks.
/// </summary>
public static class ClientsRun
{
    public static async Task<RunReport> RunAsync(RunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        int fdsBefore = KernelProbe.CompositorFds();
        string runtime = Directory.CreateTempSubdirectory("primecomp-").FullName; // mode 0700, as XDG_RUNTIME_DIR must be
        var clients = new List<SimpleDmabufEglClient>();
        Compositor? compositor = null;
        try
        {
            compositor = Compositor.Start(new CompositorOptions { SocketPath = Path.Combine(runtime, "wayland-primecomp"), Log = options.Log });
            var verifier = new FrameVerifier(compositor);
            compositor.Invoke(() => compositor.Observer = verifier);
            string vkms = compositor.Card.Path;
            string vgem = DrmNode.Enumerate().FirstOrDefault(n => n.DriverName == "vgem" && n.Type == DrmNodeType.Primary)?.Path ?? vkms;
            for (int i = 0; i < options.Clients; i++)
            {
                // Alternately: buffers of the scan-out card itself with create, and of another device (a PRIME import) with create_immed.
                clients.Add(SimpleDmabufEglClient.Start(runtime, "wayland-primecomp", i % 2 == 0 ? vkms : vgem, options.Size, immediate: i % 2 == 1, options.ClockShim));
                options.Log?.Invoke($"started {clients[^1]}");
            }

            var deadline = Stopwatch.StartNew();
            Task[] failures = [compositor.RepaintCompletion, .. clients.Select(c => c.ExitedAsync())];
            Surface[] surfaces = [];
            await WaitAsync(compositor, verifier, () =>
            {
                surfaces = [.. clients.Select(c => compositor.Surfaces.FirstOrDefault(s => s.Resource.Client.ProcessId == c.ProcessId && !s.IsDestroyed)).OfType<Surface>()];
                return surfaces.Length == clients.Count && surfaces.All(s => verifier.Verified.GetValueOrDefault(s) >= options.VerifiedFrames);
            }, failures, options.Timeout - deadline.Elapsed, $"{options.VerifiedFrames} verified frames of each client", clients);
            double verifiedSeconds = deadline.Elapsed.TotalSeconds;

            // The steady state, unchecked: the frame rate, and what the whole process and the compositor's thread allocate
            // per flip (the wait is a condition checked at each flip: nothing polls meanwhile).
            int[] start = [];
            long flips0 = 0, thread0 = 0, thread1 = 0;
            compositor.Invoke(() =>
            {
                verifier.Enabled = false;
                start = [.. surfaces.Select(s => s.FramesShown)];
                flips0 = compositor.Flips;
                thread0 = GC.GetAllocatedBytesForCurrentThread();
            });
            long bytes0 = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            await WaitAsync(compositor, verifier, () =>
            {
                for (int i = 0; i < surfaces.Length; i++)
                {
                    if (surfaces[i].FramesShown - start[i] < options.MeasuredFrames)
                    {
                        return false;
                    }
                }

                thread1 = GC.GetAllocatedBytesForCurrentThread();
                return true;
            }, failures, options.Timeout - deadline.Elapsed, $"{options.MeasuredFrames} more frames of each client", clients);
            long bytes1 = GC.GetTotalAllocatedBytes(precise: true);
            double seconds = clock.Elapsed.TotalSeconds;
            var (frames, flips) = compositor.Invoke(() => (surfaces.Select((s, i) => s.FramesShown - start[i]).Sum(), compositor.Flips - flips0));

            var writeback = new List<(int, int)>();
            foreach (Surface s in surfaces)
            {
                writeback.Add(await compositor.RunAsync(() => verifier.WritebackAsync(s)));
                if (writeback[^1].Item1 != 0)
                {
                    problems.Add($"writeback of {s}: first difference at {verifier.FirstWritebackDifference}");
                }
            }

            var libraryBytes = await MeasureLibraryAsync(compositor, surfaces, options.LibraryFlips);
            var report = compositor.Invoke(() => new
            {
                Verified = surfaces.Select(s => verifier.Verified.GetValueOrDefault(s)).ToArray(),
                compositor.BuffersCreated,
                compositor.Imports,
                verifier.CrcMatches,
                verifier.ReferenceCommits,
                LastCrc = verifier.LastCrc?.ToString() ?? "none",
                Flipped = compositor.ScannedOutFramebuffers.Count,
                Times = compositor.CommitToFlip.Order().ToArray(),
            });
            problems.AddRange(verifier.Problems);
            compositor.Dispose(); // disconnects the clients
            if (compositor.LoopFailure is { } bug)
            {
                problems.Add($"the compositor's thread caught {bug}");
            }

            (int fbs, int handles) = compositor.LeftOver ?? (-1, -1);
            compositor = null;
            foreach (SimpleDmabufEglClient c in clients)
            {
                if (!c.WaitForExit(TimeSpan.FromSeconds(20)))
                {
                    problems.Add($"{c} did not exit after the compositor closed its connection (killed)");
                }
            }

            int leakedFds = KernelProbe.CompositorFds() - fdsBefore;
            if (report.Imports != report.BuffersCreated)
            {
                problems.Add($"{report.Imports} imports for {report.BuffersCreated} buffers");
            }

            for (int i = 0; i < writeback.Count; i++)
            {
                if (writeback[i].Item1 != 0)
                {
                    problems.Add($"writeback of {clients[i]}: {writeback[i].Item1} of {writeback[i].Item2} rows differ from its mapped pixels");
                }
            }

            if (leakedFds != 0 || fbs != 0 || handles != 0)
            {
                problems.Add($"leaked: {leakedFds} fds, {handles} GEM handles, {fbs} framebuffers");
            }

            return new RunReport
            {
                Clients = clients.Count,
                VerifiedFramesPerClient = report.Verified,
                BuffersCreated = report.BuffersCreated,
                Imports = report.Imports,
                FramebuffersScannedOut = report.Flipped,
                CrcMatches = report.CrcMatches,
                ReferenceCommits = report.ReferenceCommits,
                LastCrc = report.LastCrc,
                Writeback = writeback,
                LeakedFds = leakedFds,
                LeakedHandles = handles,
                LeakedFramebuffers = fbs,
                VerifiedFramesPerSecond = report.Verified.Sum() / verifiedSeconds,
                FramesPerSecond = frames / seconds,
                FlipsPerSecond = flips / seconds,
                CommitToFlip = (Percentile(report.Times, 0.5), Percentile(report.Times, 0.9), report.Times.LastOrDefault()),
                BytesPerFlip = (bytes1 - bytes0) / (double)Math.Max(1, flips),
                ThreadBytesPerFlip = (thread1 - thread0) / (double)Math.Max(1, flips),
                LibraryBytesPerFlip = libraryBytes,
                Problems = problems,
                ClientOutputs = [.. clients.Select(c => $"{c}: exit {c.ExitCode}\n{c.Output}")],
            };
        }
        finally
        {
            compositor?.Dispose();
            foreach (SimpleDmabufEglClient c in clients)
            {
                c.Dispose();
            }

            Directory.Delete(runtime, recursive: true);
        }
    }

    /// <summary>Waits for <paramref name="condition"/> (checked on the compositor's thread at each flip); fails on a problem, a dead client or compositor, or the timeout.</summary>
    private static async Task WaitAsync(Compositor compositor, FrameVerifier verifier, Func<bool> condition, Task[] failures, TimeSpan timeout, string what,
        List<SimpleDmabufEglClient> clients)
    {
        Task done = compositor.Invoke(() => verifier.WhenAsync(condition));
        Task first = await Task.WhenAny([done, Task.Delay(timeout), .. failures]);
        if (first == done)
        {
            await done; // a frame that did not verify throws here
            return;
        }

        string failure = first == compositor.RepaintCompletion ? $"the repaint loop ended: {compositor.RepaintCompletion.Exception?.InnerException?.Message}"
            : clients.Where(c => c.HasExited).Select(c => $"{c} exited with {c.ExitCode}:\n{c.Output}").FirstOrDefault()
            ?? $"not within {timeout.TotalSeconds:0} s";
        throw new InvalidOperationException($"{what}: {failure}");
    }

    /// <summary>
    /// The library's side of a frame alone, as bytes allocated per flip: each on-screen buffer's fence wait
    /// (DmaBuf.WaitReadyAsync), one nonblocking atomic commit swapping the surfaces' framebuffers, and the flip event
    /// (ReadEventAsync); on a thread-pool thread without the compositor's synchronization context, the repaint loop held.
    /// </summary>
    private static async Task<(double Fences, double Commit, double Event)> MeasureLibraryAsync(Compositor compositor, Surface[] surfaces, int flips)
    {
        using IDisposable hold = await compositor.HoldOutputAsync();
        var shown = compositor.Invoke(() => surfaces.Select(s => (Buffer: s.OnScreen!, s.Placement)).ToArray());
        return await Task.Run(async () =>
        {
            Output output = compositor.Output;
            var request = new DrmAtomicRequest();
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            long fences = 0, commits = 0, events = 0;
            for (int k = 0; k < flips + 5; k++)
            {
                long t0 = GC.GetTotalAllocatedBytes(precise: true);
                foreach (var (buffer, _) in shown)
                {
                    await buffer.Description.Planes[0].Buffer.WaitReadyAsync(DmaBufAccess.Read, deadline.Token);
                }

                long t1 = GC.GetTotalAllocatedBytes(precise: true);
                request.Clear();
                for (int i = 0; i < shown.Length; i++)
                {
                    ClientBuffer b = shown[(i + k) % shown.Length].Buffer;
                    output.AddPlane(request, shown[i].Placement.Plane, b.Framebuffer, shown[i].Placement.X, shown[i].Placement.Y, b.Width, b.Height, b.YInvert);
                }

                compositor.Card.CommitAtomic(request, DrmAtomicCommitFlags.Nonblock | DrmAtomicCommitFlags.PageFlipEvent, (ulong)k + (1UL << 61));
                long t2 = GC.GetTotalAllocatedBytes(precise: true);
                _ = await compositor.Card.ReadEventAsync(deadline.Token);
                long t3 = GC.GetTotalAllocatedBytes(precise: true);
                if (k >= 5) // the first flips warm up
                {
                    fences += t1 - t0;
                    commits += t2 - t1;
                    events += t3 - t2;
                }
            }

            return (fences / (double)flips, commits / (double)flips, events / (double)flips);
        });
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(p * sorted.Length))];
}
