using System.Collections;
using System.IO.MemoryMappedFiles;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.Win32.SafeHandles;
using Mono.Unix.Native;
using PrimeInterop.Interop;
using PrimeInterop.Tests.Infrastructure;
using Errno = PrimeInterop.Interop.Errno;

namespace PrimeInterop.Tests;

/// <summary>
/// No span, handle or fd escapes its owner, and nothing a peer sends or a caller does wrong crashes the process,
/// leaks, or acts on the wrong file: the parts that need no DRM device. Each test is named after the careless call or
/// hostile input it survives; the kernel side is in <see cref="NoEscapeTests"/>.
/// </summary>
public sealed partial class NoEscapeHostTests
{
    private static readonly int Page = Environment.SystemPageSize;

    // ---- A CPU-access span cannot outlive its scope: the compiler refuses the escape ----

    [Fact]
    public void Returning_an_access_scopes_span_out_of_the_method_that_began_it_does_not_compile()
    {
        // What the compiler must refuse, with the error it gives: the span returned, or kept past the scope's variable.
        (string Code, string Error)[] escapes =
        [
            ("static Span<byte> Leak(DmaBufMapping m) { using var a = m.BeginAccess(DmaBufAccess.Read); return a.Span; }", "CS8168"),
            ("static Span<byte> Leak(DumbBufferMapping m) { using var a = m.BeginAccess(); return a.Span; }", "CS8168"),
            ("static Span<byte> Leak(DmaBufMapping m) { using (var a = m.BeginAccess(DmaBufAccess.Read)) { return a.Span; } }", "CS8168"),
            ("static Span<byte> Leak(DmaBufMapping m) { var a = m.BeginAccess(DmaBufAccess.Read); Span<byte> s = a.Span; a.Dispose(); return s; }", "CS8352"),
            ("static Span<byte> Leak(DmaBufMapping m) { Span<byte> kept; using (var a = m.BeginAccess(DmaBufAccess.Read)) { kept = a.Span; } return kept; }", "CS8168"),
            ("static Span<byte> Leak(DmaBufMapping m) => m.BeginAccess(DmaBufAccess.Read).Span;", "CS8156"),
        ];

        // What must still compile: the README's scopes, and the span passed down to a callee.
        string[] uses =
        [
            "static void Use(DmaBufMapping m) { using (var cpu = m.BeginAccess(DmaBufAccess.Write)) cpu.Span.Fill(0x80); }",
            "static byte Use(DmaBufMapping m) { using var cpu = m.BeginAccess(DmaBufAccess.Read); return cpu.Span[0]; }",
            "static void Use(DumbBufferMapping m) { using var cpu = m.BeginAccess(); Fill(cpu.Span); var copy = cpu; copy.Dispose(); }",
            "static void Use(DumbBuffer d) { using var cpu = d.Map().BeginAccess(); Fill(cpu.Span[1..]); }",
        ];

        foreach (var (code, error) in escapes)
        {
            Assert.Equal([error], CompileErrors(code));
        }

        foreach (string code in uses)
        {
            Assert.Empty(CompileErrors(code));
        }
    }

    /// <summary>
    /// The scope state machine alone (no memory behind it): four threads begin scopes on one mapping, copy each, end
    /// it through the original and check the copy sees it ended, while the owner disposes at some point. Whatever the
    /// interleaving, the release happens exactly once, and only once no scope is open; scopes begun beside the kept one
    /// (while it is open) end once too.
    /// </summary>
    [Fact]
    public void Scopes_begun_copied_and_ended_on_four_threads_release_once_after_the_last_scope_and_the_owners_Dispose()
    {
        for (int round = 0; round < 200; round++)
        {
            var mapping = new Holders();
            int open = 0, released = 0, misses = 0;
            void Release()
            {
                if (Volatile.Read(ref open) != 0)
                {
                    Interlocked.Increment(ref misses);
                }

                Interlocked.Increment(ref released);
            }

            var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
            {
                for (int i = 0; i < 1000; i++)
                {
                    AccessScope scope;
                    try
                    {
                        scope = mapping.State.Begin("test");
                    }
                    catch (ObjectDisposedException)
                    {
                        return;
                    }

                    Interlocked.Increment(ref open);
                    AccessScope copy = scope;
                    if (!mapping.State.IsOpen(scope) || !mapping.State.IsOpen(copy))
                    {
                        Interlocked.Increment(ref misses);
                    }

                    Interlocked.Decrement(ref open);
                    if (mapping.State.End(scope))
                    {
                        Release();
                    }

                    if (mapping.State.IsOpen(copy))
                    {
                        Interlocked.Increment(ref misses); // a copy of an ended scope must see it ended
                    }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            Thread.SpinWait(round * 50);
            if (mapping.State.Dispose())
            {
                Release();
            }

            threads.ForEach(t => t.Join());
            Assert.False(mapping.State.Dispose()); // once
            Assert.Equal((1, 0), (released, misses));
        }
    }

    private sealed class Holders
    {
#pragma warning disable SA1401 // the state machine is a mutable struct, used in place
        public ScopeHolders State;
#pragma warning restore SA1401
    }

    /// <summary>The ids of the errors <paramref name="member"/> gets in a class compiled against this build of the library.</summary>
    private static string[] CompileErrors(string member)
    {
        string source = "using System;\nusing PrimeInterop;\n\npublic static class Snippet\n{\n    " + member +
            "\n\n    static void Fill(Span<byte> span) => span.Fill(1);\n}\n";
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal))
            .Append(typeof(DmaBufMapping).Assembly.Location)
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("Snippet",
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine($"{member}\n  {(errors.Count == 0 ? "compiles" : string.Join("\n  ", errors))}");
        return [.. errors.Select(d => d.Id).Distinct()];
    }

    // ---- Only real fds are taken as fds ----

    [Fact]
    public async Task A_SafeProcessHandle_or_a_SafeMemoryMappedViewHandle_is_refused_as_an_fd_naming_its_type()
    {
        var ct = TestContext.Current.CancellationToken;
        using var oracle = new LeakOracle();
        var (r, w) = TestPipe.Create();
        using (r)
        using (w)
        using (var mapped = MemoryMappedFile.CreateNew(null, Page))
        using (var view = mapped.CreateViewAccessor())
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            // A process handle whose pid is an open fd's number: read as an fd, it would send (or import) that file.
            using var process = new SafeProcessHandle(r.DangerousGetHandle(), ownsHandle: false);
            foreach (SafeHandle notAnFd in new SafeHandle[] { process, view.SafeMemoryMappedViewHandle })
            {
                string type = notAnFd.GetType().Name;
                Assert.Contains(type, Assert.Throws<ArgumentException>(() => pair.A.SendWithFds("x"u8, w, notAnFd)).Message, StringComparison.Ordinal);
                Assert.Contains(type, (await Assert.ThrowsAsync<ArgumentException>(async () =>
                    await pair.A.SendWithFdsAsync("x"u8.ToArray(), [w, notAnFd], ct))).Message, StringComparison.Ordinal);
                Assert.Contains(type, Assert.Throws<ArgumentException>(() => Udmabuf.Create(notAnFd, 0, Page)).Message, StringComparison.Ordinal);
            }

            Assert.Equal(0, pair.B.Available); // nothing was sent
            pair.A.SendWithFds("y"u8, w, r); // the fd types still go
            using var received = pair.B.ReceiveWithFds(new byte[4]);
            Assert.Equal(2, received.Count);
        }

        oracle.Verify(); // every lease taken before the refused handle was released: the pipe closed
    }

    // ---- Every fd a control message carries is closed unless returned ----

    [Fact]
    public Task A_socket_with_SO_PASSPIDFD_and_SO_PASSCRED_leaks_no_pidfd_on_any_receive_path()
    {
        Assert.SkipUnless(PassesPidFds(), ChildProcess.Emulator is null ? "this kernel has no SO_PASSPIDFD (Linux 6.5)"
            : $"{ChildProcess.Emulator} has no translation for SO_PASSPIDFD (it answers ENOPROTOOPT without asking the kernel)");
        return EveryReceiveClosesThePidFdOfItsMessage(dmaBuf: null);
    }

    /// <summary>Whether this kernel attaches the sender's pidfd to messages (SO_PASSPIDFD, Linux 6.5).</summary>
    internal static bool PassesPidFds()
    {
        using var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET);
        try
        {
            pair.B.SetRawSocketOption(ScmRights.SOL_SOCKET, ScmRights.SO_PASSPIDFD, BitConverter.GetBytes(1));
            return true;
        }
        catch (SocketException)
        {
            return false; // ENOPROTOOPT
        }
    }

    /// <summary>
    /// 100 rounds of every receive path on a socket with SO_PASSCRED and SO_PASSPIDFD, where each message brings a
    /// pidfd besides its SCM_RIGHTS fds (also a message with none): the fd table is unchanged afterwards. With a
    /// dma-buf, <see cref="DmaBufSocketExtensions.ReceiveDmaBufAsync"/> too.
    /// </summary>
    internal static async Task EveryReceiveClosesThePidFdOfItsMessage(DmaBuf? dmaBuf)
    {
        var ct = TestContext.Current.CancellationToken;
        using var oracle = new LeakOracle();
        var (r, w) = TestPipe.Create();
        using (r)
        using (w)
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            pair.B.SetRawSocketOption(ScmRights.SOL_SOCKET, ScmRights.SO_PASSCRED, BitConverter.GetBytes(1));
            pair.B.SetRawSocketOption(ScmRights.SOL_SOCKET, ScmRights.SO_PASSPIDFD, BitConverter.GetBytes(1));
            pair.A.SendWithFds("0"u8, w);
            Assert.Equal((1, 1), ReceiveCountingFds(pair.B)); // the kernel attaches a pidfd (read here independently, and closed)

            byte[] description = dmaBuf is null ? [] : SafetyContractHostTests.Description(planes: 1, stride: 256);
            for (int i = 0; i < 100; i++)
            {
                pair.A.SendWithFds("a"u8, r, w);
                using (var received = pair.B.ReceiveWithFds(new byte[4]))
                {
                    Assert.Equal(2, received.Count);
                    received.TakeFile(0).Dispose();
                }

                pair.A.SendWithFds("b"u8); // no fds, and still a pidfd
                using (var none = pair.B.ReceiveWithFds(new byte[4], maxFds: 0))
                {
                    Assert.Equal(0, none.Count);
                }

                pair.A.SendWithFds("c"u8, w);
                using (var later = await pair.B.ReceiveWithFdsAsync(new byte[4], 1, ct))
                {
                    Assert.Equal(1, later.Count);
                }

                pair.A.SendWithFds("d"u8, r, w, r);
                int count = 0;
                pair.B.ReceiveScoped(new byte[4], 3, ref count, static (scoped BorrowedReceivedFds fds, ref int c) => c = fds.Count);
                Assert.Equal(3, count);

                if (dmaBuf is not null)
                {
                    pair.A.SendWithFds(description, dmaBuf);
                    using var buffer = await pair.B.ReceiveDmaBufAsync(ct);
                    Assert.Equal(dmaBuf.Identity, buffer!.Planes[0].Buffer.Identity);
                }
            }
        }

        oracle.Verify(); // before: one "anon_inode:[pidfd]" per message
    }

    /// <summary>
    /// One recvmsg through Mono.Posix, independent of the library: how many SCM_RIGHTS fds and SCM_PIDFD fds came
    /// (every one of them closed here).
    /// </summary>
    private static unsafe (int Rights, int PidFds) ReceiveCountingFds(Socket socket)
    {
        byte[] data = new byte[16], control = new byte[512];
        int rights = 0, pidFds = 0;
        fixed (byte* d = data)
        {
            var msg = new Msghdr
            {
                msg_iov = [new Iovec { iov_base = (IntPtr)d, iov_len = (ulong)data.Length }],
                msg_iovlen = 1,
                msg_control = control,
                msg_controllen = control.Length,
            };
            Assert.True(Syscall.recvmsg((int)socket.Handle, msg, MessageFlags.MSG_CMSG_CLOEXEC) > 0);
            for (int offset = 0; offset + 16 <= msg.msg_controllen;)
            {
                int length = (int)BitConverter.ToInt64(control, offset), level = BitConverter.ToInt32(control, offset + 8), type = BitConverter.ToInt32(control, offset + 12);
                Assert.InRange(length, 16, (int)msg.msg_controllen - offset);
                for (int at = offset + 16; level == ScmRights.SOL_SOCKET && type is ScmRights.SCM_RIGHTS or ScmRights.SCM_PIDFD && at + 4 <= offset + length; at += 4)
                {
                    Assert.Equal(0, Syscall.close(BitConverter.ToInt32(control, at)));
                    _ = type == ScmRights.SCM_RIGHTS ? rights++ : pidFds++;
                }

                offset += (length + 7) & ~7;
            }
        }

        return (rights, pidFds);
    }

    // ---- Counts are checked on what was copied ----

    [Fact]
    public async Task SendWithFdsAsync_of_a_list_that_claims_1_fd_and_yields_5_million_is_an_argument_error()
    {
        var ct = TestContext.Current.CancellationToken;
        using var oracle = new LeakOracle();
        var (r, w) = TestPipe.Create();
        using (r)
        using (w)
        using (var pair = new SocketPair(UnixSocketType.SOCK_SEQPACKET))
        {
            var liar = new LyingList(w, claimed: 1, yields: 5_000_000);
            var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await pair.A.SendWithFdsAsync("x"u8.ToArray(), liar, ct));
            Assert.Equal("fds", e.ParamName);
            Assert.True(liar.Yielded <= UnixFdPassing.MaxFdsPerMessage + 1, $"read {liar.Yielded} items to refuse a list of more than {UnixFdPassing.MaxFdsPerMessage}");
            Assert.Equal(0, pair.B.Available);

            // The other way round: a list that claims 300 and yields 2 sends the 2 it has.
            Assert.Equal(1, await pair.A.SendWithFdsAsync("y"u8.ToArray(), new LyingList(w, claimed: 300, yields: 2), ct));
            using var received = pair.B.ReceiveWithFds(new byte[4]);
            Assert.Equal(2, received.Count);
        }

        oracle.Verify();
    }

    /// <summary>A list whose Count is not what it yields.</summary>
    private sealed class LyingList(SafeHandle item, int claimed, int yields) : IReadOnlyList<SafeHandle>
    {
        public int Yielded { get; private set; }

        public int Count => claimed;

        public SafeHandle this[int index] => item;

        public IEnumerator<SafeHandle> GetEnumerator()
        {
            for (int i = 0; i < yields; i++)
            {
                Yielded++;
                yield return item;
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    // ---- errno is read right everywhere ----

    /// <summary>
    /// The convention of Interop/Libraries.cs, checked on the sources: every [LibraryImport] names Libraries.Libc and
    /// declares SetLastError = true unless it is one of the hot syscalls read with GetLastSystemError; every Tmds.LibC
    /// function called is declared with SetLastError = true (Tmds.LibC's poll is not: errno read after it was stale);
    /// GetLastSystemError is read only after the hot syscalls.
    /// </summary>
    [Fact]
    public void Every_binding_reads_errno_the_one_way_Libraries_describes()
    {
        string interop = Path.Combine(Repo.Root(), "src", "PrimeInterop");
        Assert.SkipUnless(Directory.Exists(interop), "the sources are not here");
        string[] hot = ["ioctl", "close", "sendmsg", "recvmsg", "epoll_ctl", "epoll_wait"];
        var tmds = typeof(Tmds.Linux.LibC).GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic);
        var problems = new List<string>();
        foreach (string file in Directory.EnumerateFiles(interop, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/", StringComparison.Ordinal)))
        {
            string name = Path.GetRelativePath(interop, file), text = File.ReadAllText(file);
            foreach (Match m in LibraryImport().Matches(text))
            {
                string arguments = m.Groups["args"].Value, entry = EntryPoint().Match(arguments) is { Success: true } e ? e.Groups[1].Value : m.Groups["method"].Value;
                if (!arguments.StartsWith("Libraries.Libc", StringComparison.Ordinal))
                {
                    problems.Add($"{name}: [LibraryImport({arguments})] {entry}: not Libraries.Libc");
                }

                if (!arguments.Contains("SetLastError = true", StringComparison.Ordinal) && !hot.Contains(entry))
                {
                    problems.Add($"{name}: {entry} is bound without SetLastError but is not a hot syscall");
                }
            }

            foreach (string called in TmdsCall().Matches(text).Select(m => m.Groups[1].Value).Distinct())
            {
                // A managed wrapper (fstat, stat) calls the DllImport of the same name with a leading underscore.
                var imports = tmds.Where(t => t.Name == called || t.Name == "_" + called).Select(t => t.GetCustomAttribute<DllImportAttribute>()).OfType<DllImportAttribute>().ToList();
                if (imports.Count == 0 || imports.Any(d => !d.SetLastError))
                {
                    problems.Add($"{name}: Tmds.LibC's {called} is not declared SetLastError = true; its errno would be stale");
                }
            }

            foreach (string line in text.Split('\n').Where(l => l.Contains("GetLastSystemError", StringComparison.Ordinal) && !l.TrimStart().StartsWith("//", StringComparison.Ordinal)))
            {
                if (name is not ("Interop/Ioctl.cs" or "Interop/ScmRights.cs" or "Interop/Epoll.cs") && !line.Contains("SysClose(fd) == -1", StringComparison.Ordinal))
                {
                    problems.Add($"{name}: GetLastSystemError after a call that is not a hot syscall: {line.Trim()}");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [GeneratedRegex(@"\[LibraryImport\((?<args>[^\]]*)\)\]\s*(?:\w+\s+)*?[\w*]+\s+(?<method>\w+)\(")]
    private static partial Regex LibraryImport();

    [GeneratedRegex(@"EntryPoint = ""(\w+)""")]
    private static partial Regex EntryPoint();

    [GeneratedRegex(@"\bLibC\.(\w+)\(")]
    private static partial Regex TmdsCall();

    /// <summary>
    /// Each binding style gives back the errno of its own call: with both errno slots set to EPERM beforehand, a call on
    /// a number that is no open fd reports EBADF through the library's exception (or result).
    /// </summary>
    [Fact]
    public void A_closed_fd_is_EBADF_through_every_binding_style_whatever_errno_was_before()
    {
        const int NotAnFd = 1 << 20; // above any fd table: EBADF
        using var fake = new DmaBuf(NotAnFd, ownsHandle: false);
        var cases = new (string Style, Func<int> Errno)[]
        {
            ("[LibraryImport] with SetLastError (fstatfs)", () => Libc.FileSystemType(NotAnFd, out _)),
            ("Tmds.LibC DllImport with SetLastError (fcntl)", () => Assert.Throws<DrmException>(() => fake.Duplicate()).Errno),
            ("Tmds.LibC DllImport with SetLastError (fstat)", () => Assert.Throws<DrmException>(() => fake.Identity).Errno),
            ("Tmds.LibC DllImport with SetLastError (lseek)", () => Assert.Throws<DrmException>(() => fake.Size).Errno),
            ("hot syscall, GetLastSystemError (ioctl)", () => Assert.Throws<DrmException>(() => fake.SetName("x")).Errno),
            ("hot syscall, GetLastSystemError (close)", () => Libc.Close(NotAnFd)),
            ("hot syscall, GetLastSystemError (sendmsg)", () =>
            {
                var room = default(ScmRights.SendRoom);
                return ScmRights.Send(NotAnFd, "x"u8, ref room, 0, 0, out _);
            }),
            ("hot syscall, GetLastSystemError (recvmsg)", () => ScmRights.Receive(NotAnFd, new byte[1], 0, 0, out _, out _, out _, out _)),
        };

        var notRun = new List<string>();
        foreach (var (style, errno) in cases)
        {
            // qemu-user answers ENOSYS to an ioctl it has no translation for (every dma-buf and DRM one) without
            // asking the kernel: that binding style cannot be seen under emulation.
            if (ChildProcess.Emulator is not null && style.EndsWith("(ioctl)", StringComparison.Ordinal))
            {
                notRun.Add(style);
                continue;
            }

            Marshal.SetLastPInvokeError(Errno.EPERM);
            Marshal.SetLastSystemError(Errno.EPERM);
            int got = errno();
            Assert.True(got == Errno.EBADF, $"{style}: expected EBADF, got {Errno.Name(got)}");
        }

        Assert.SkipWhen(notRun.Count > 0, $"every other binding style gave EBADF; under {ChildProcess.Emulator}, which answers ENOSYS "
            + $"to the ioctls it cannot translate without asking the kernel, not checked: {string.Join(", ", notRun)}");
    }
}
