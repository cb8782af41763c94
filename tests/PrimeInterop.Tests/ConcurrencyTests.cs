using System.Diagnostics;
using PrimeInterop.Tests.Infrastructure;

namespace PrimeInterop.Tests;

/// <summary>
/// Threads import, export and dispose the same buffers at once. With the table lock held across
/// FD_TO_HANDLE, the table update and the final GEM_CLOSE, a live reference never finds its handle closed.
/// </summary>
[Trait(KernelEnv.Category, KernelEnv.Kernel)]
public sealed class ConcurrencyTests
{
    [Fact]
    public void Concurrent_import_export_dispose_never_closes_a_live_handle_and_leaks_nothing()
    {
        const int Buffers = 3, Threads = 4;
        var duration = TimeSpan.FromSeconds(3);
        using var oracle = new LeakOracle();
        using (var card = KernelEnv.OpenVgemCard())
        using (var render = KernelEnv.OpenVgemRender())
        {
            var dumbs = Enumerable.Range(0, Buffers).Select(_ => card.CreateDumbBuffer(64, 64, 32)).ToArray();
            var sources = dumbs.Select(d => card.ExportDmaBuf(d.Handle)).ToArray();
            var identities = sources.Select(s => s.Identity).ToArray();
            long operations = 0, closedUnderUs = 0, wrongBuffer = 0;
            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            var clock = Stopwatch.StartNew();

            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                var random = new Random(t);
                var held = new List<(GemHandle Handle, int Buffer)>();
                try
                {
                    while (clock.Elapsed < duration)
                    {
                        int b = random.Next(Buffers);
                        if (held.Count < 4 && random.Next(2) == 0)
                        {
                            held.Add((render.ImportDmaBuf(sources[b]), b));
                        }
                        else if (held.Count > 0)
                        {
                            int i = random.Next(held.Count);
                            var (handle, buffer) = held[i];

                            // While we hold a reference, the kernel handle must exist and be our buffer.
                            if (!LeakOracle.HandleIsOpen(render.FileHandle, handle.Value))
                            {
                                Interlocked.Increment(ref closedUnderUs);
                            }

                            using (var exported = render.ExportDmaBuf(handle))
                            {
                                if (exported.Identity != identities[buffer])
                                {
                                    Interlocked.Increment(ref wrongBuffer);
                                }
                            }

                            handle.Dispose();
                            held.RemoveAt(i);
                        }

                        Interlocked.Increment(ref operations);
                    }
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
                finally
                {
                    foreach (var (h, _) in held)
                    {
                        h.Dispose();
                    }
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            Assert.Empty(failures);
            Assert.Equal(0, Interlocked.Read(ref closedUnderUs));
            Assert.Equal(0, Interlocked.Read(ref wrongBuffer));
            Assert.True(operations > 100, $"only {operations} operations ran");
            Assert.Equal(0, render.OpenObjectCount);
            TestContext.Current.SendDiagnosticMessage($"{operations} operations on {Threads} threads in {duration.TotalSeconds}s");

            // Every handle the importers used is gone from the render file.
            using (var probe = render.ImportDmaBuf(sources[0]))
            {
                oracle.ExpectClosedAtEnd(probe);
            }

            foreach (var s in sources)
            {
                s.Dispose();
            }

            foreach (var d in dumbs)
            {
                oracle.ExpectClosedAtEnd(d.Handle);
                d.Dispose();
            }
        }

        oracle.Verify();
    }
}
