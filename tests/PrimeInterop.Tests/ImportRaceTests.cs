using System.Collections.Concurrent;
using System.Diagnostics;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// The duplicate import's two shortcuts under fire. Imports take no lease on the dma-buf (its handle is checked for
/// closing after the call instead) and, for an object the table holds, no lock (the table's count of closes is read
/// around the call). Threads import (SafeHandle API, lane, remembered DmaBuf and borrowed fd), release (last releases
/// close handles, so the kernel reuses their numbers for other objects), and dispose and re-export dma-bufs (so
/// their fd numbers are reused under the imports) for ten seconds; every import that succeeds is checked against the
/// object it was asked for (re-exported: the same dma-buf inode), and nothing may be left open.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class ImportRaceTests
{
    private const int Objects = 6, Importers = 3;
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(10);

    [Fact]
    public void Imports_racing_closes_and_fd_reuse_always_count_the_object_asked_for()
    {
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            var dumbs = Enumerable.Range(0, Objects).Select(_ => card.CreateDumbBuffer(16, 16, 32)).ToArray();
            var slots = dumbs.Select(d => card.ExportDmaBuf(d.Handle)).ToArray(); // replaced (disposed, re-exported) as the test runs
            var identities = slots.Select(s => s.Identity).ToArray();
            long imports = 0, refused = 0, replaced = 0;
            var violations = new ConcurrentQueue<string>();
            var failures = new ConcurrentQueue<Exception>();
            var clock = Stopwatch.StartNew();

            var threads = new List<Thread>();
            for (int t = 0; t < Importers; t++)
            {
                int seed = t;
                threads.Add(new Thread(() => Run(() => Import(seed))));
            }

            threads.Add(new Thread(() => Run(Replace)));
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            Measurements.Record($"import race: {imports} imports, {refused} refused (disposed under them), {replaced} dma-bufs replaced in {Duration.TotalSeconds:F0} s");
            Assert.Empty(failures);
            Assert.Empty(violations);
            Assert.True(imports > 100, $"only {imports} imports ran");
            Assert.Equal(0, render.OpenObjectCount);
            foreach (DmaBuf s in slots)
            {
                s.Dispose();
            }

            foreach (DumbBuffer d in dumbs)
            {
                oracle.ExpectClosedAtEnd(d.Handle);
                d.Dispose();
            }

            void Run(Action work)
            {
                try
                {
                    work();
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
            }

            void Import(int seed)
            {
                var random = new Random(seed);
                var held = new List<GemHandle>();
                while (clock.Elapsed < Duration)
                {
                    int i = random.Next(Objects);
                    DmaBuf source = Volatile.Read(ref slots[i]);
                    try
                    {
                        switch (random.Next(4))
                        {
                            case 0: // the SafeHandle API (a DmaBuf imported before: remembered, no kernel call)
                                held.Add(Checked(render.ImportDmaBuf(source), i));
                                break;
                            case 1: // a borrowed view of the same fd number: always the kernel
                                using (var borrowed = DmaBuf.FromFileDescriptor((int)source.DangerousGetHandle(), ownsHandle: false))
                                {
                                    GemHandle h = render.ImportDmaBuf(borrowed);
                                    if (source.IsClosed)
                                    {
                                        h.Dispose(); // the number may name another buffer by now: nothing to check
                                    }
                                    else
                                    {
                                        held.Add(Checked(h, i));
                                    }
                                }

                                break;
                            default: // the lane, with the table's lock-free duplicate import
                                var state = (Render: render, Expected: identities[i], Seen: default(DmaBufIdentity));
                                render.ImportScoped(source, ref state, static (scoped BorrowedGemHandle h, ref (DrmDevice Render, DmaBufIdentity Expected, DmaBufIdentity Seen) s) =>
                                    s.Render.ExportScoped(h, ref s, static (scoped BorrowedDmaBuf fd, ref (DrmDevice Render, DmaBufIdentity Expected, DmaBufIdentity Seen) s) =>
                                    {
                                        using var copy = fd.Duplicate();
                                        s.Seen = copy.Identity;
                                    }));
                                if (state.Seen != state.Expected)
                                {
                                    violations.Enqueue($"the lane imported {state.Seen} for {state.Expected}");
                                }

                                break;
                        }

                        Interlocked.Increment(ref imports);
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref refused); // the slot's DmaBuf was replaced under the import
                    }
                    catch (Exception e) when (e is DrmException or ArgumentException && source.IsClosed)
                    {
                        Interlocked.Increment(ref refused); // a borrowed number closed under the call: EBADF, or another file
                    }

                    if (held.Count > 3 || (held.Count > 0 && random.Next(2) == 0))
                    {
                        int k = random.Next(held.Count);
                        held[k].Dispose(); // often the last reference: GEM_CLOSE, and the number goes to the next object
                        held.RemoveAt(k);
                    }
                }

                held.ForEach(h => h.Dispose());
            }

            GemHandle Checked(GemHandle handle, int i)
            {
                using DmaBuf again = render.ExportDmaBuf(handle);
                if (again.Identity != identities[i])
                {
                    violations.Enqueue($"{handle} is {again.Identity}, not {identities[i]}");
                }

                return handle;
            }

            void Replace()
            {
                var random = new Random(99);
                while (clock.Elapsed < Duration)
                {
                    int i = random.Next(Objects);
                    DmaBuf fresh = card.ExportDmaBuf(dumbs[i].Handle); // same object, a new fd (and DmaBuf)
                    DmaBuf old = Interlocked.Exchange(ref slots[i], fresh);
                    old.Dispose(); // its number is free for the next export or dup, of any buffer
                    Interlocked.Increment(ref replaced);
                    Thread.Sleep(random.Next(2));
                }
            }
        }

        oracle.Verify();
    }
}
