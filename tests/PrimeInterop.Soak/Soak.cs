using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PrimeInterop.Interop;

namespace PrimeInterop.Soak;

/// <summary>The devices every worker shares: vgem's primary and render node and vkms.</summary>
internal sealed class Devices : IDisposable
{
    public DrmDevice VgemCard { get; } = DrmDevice.OpenByDriver("vgem", DrmNodeType.Primary);

    public DrmDevice VgemRender { get; } = DrmDevice.OpenByDriver("vgem", DrmNodeType.Render);

    public DrmDevice Vkms { get; } = DrmDevice.OpenByDriver("vkms", DrmNodeType.Primary);

    public HandleHighWater HighWater { get; } = new();

    public IEnumerable<DrmDevice> All => [VgemCard, VgemRender, Vkms];

    public void Dispose()
    {
        VgemCard.Dispose();
        VgemRender.Dispose();
        Vkms.Dispose();
    }
}

internal static class Soak
{
    public const uint Width = 64, Height = 64, Pitch = Width * 4;

    public static async Task<int> RunAsync(Options options)
    {
        using var devices = new Devices();
        string socketPath = Path.Combine(Path.GetTempPath(), $"primeinterop-soak-{Environment.ProcessId}.sock");
        File.Delete(socketPath);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(options.Threads);

        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        foreach (string a in new[] { typeof(Soak).Assembly.Location, "--peer", socketPath, options.Threads.ToString(CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        using var peer = Process.Start(psi)!;
        Task<string> peerOutput = peer.StandardOutput.ReadToEndAsync();
        var connections = new List<Socket>();
        using (var acceptTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(180)))
        {
            for (int i = 0; i < options.Threads; i++)
            {
                connections.Add(await listener.AcceptAsync(acceptTimeout.Token));
            }
        }

        File.Delete(socketPath);
        Console.Error.WriteLine($"soak: {options.Threads} threads for {options.Seconds} s on {devices.VgemCard.Path}, {devices.VgemRender.Path} (vgem) and {devices.Vkms.Path} (vkms), seed {options.Seed}");

        // One unchecked round first: the runtime opens its socket engine's fds lazily, and they stay.
        new Worker(devices, connections[0], new Random(options.Seed)).Warm();
        var fdsBefore = Leaks.FdTable();

        var workers = connections.Select((c, i) => new Worker(devices, c, new Random(options.Seed + i + 1))).ToList();
        var deadline = Stopwatch.StartNew();
        var threads = workers.Select((w, i) => new Thread(() => w.Run(deadline, TimeSpan.FromSeconds(options.Seconds))) { Name = $"soak {i}" }).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        long operations = workers.Sum(w => w.Operations);
        int leakedFds = Leaks.NewFds(fdsBefore, "soak");
        int leakedHandles = devices.All.Sum(d => Leaks.OpenHandles(d, devices.HighWater.Of(d), "soak"));

        connections.ForEach(c => c.Dispose()); // the peer sees the end of every connection, checks itself and exits
        string peerLine = (await peerOutput.WaitAsync(TimeSpan.FromSeconds(120))).Trim();
        await peer.WaitForExitAsync();
        var peerCounts = PeerSummary.Parse(peerLine);
        if (peerCounts is null || peer.ExitCode is not (0 or 1))
        {
            Violations.Report($"the peer process exited {peer.ExitCode} with '{peerLine}'");
            peerCounts ??= default;
        }

        operations += peerCounts.Value.Operations;
        int violations = Violations.Count + peerCounts.Value.Violations;
        leakedFds += peerCounts.Value.LeakedFds;
        leakedHandles += peerCounts.Value.LeakedHandles;

        string summary = $"soak: {operations} operations, {violations} invariant violations, {leakedFds} leaked fds, {leakedHandles} leaked handles";
        Console.WriteLine(summary);
        if (options.Summary is not null)
        {
            await File.WriteAllTextAsync(options.Summary, summary + "\n");
        }

        return violations == 0 && leakedFds == 0 && leakedHandles == 0 && operations > 0 ? 0 : 1;
    }
}

/// <summary>The peer's one line: "peer: N operations, V invariant violations, F leaked fds, H leaked handles".</summary>
internal readonly record struct PeerSummary(long Operations, int Violations, int LeakedFds, int LeakedHandles)
{
    public static PeerSummary? Parse(string line)
    {
        string[] f = line.Replace(",", "", StringComparison.Ordinal).Split(' ');
        return f.Length == 12 && f[0] == "peer:"
            && long.TryParse(f[1], CultureInfo.InvariantCulture, out long ops) && int.TryParse(f[3], CultureInfo.InvariantCulture, out int v)
            && int.TryParse(f[6], CultureInfo.InvariantCulture, out int fds) && int.TryParse(f[9], CultureInfo.InvariantCulture, out int handles)
            ? new PeerSummary(ops, v, fds, handles)
            : null;
    }

    public override string ToString() => $"peer: {Operations} operations, {Violations} invariant violations, {LeakedFds} leaked fds, {LeakedHandles} leaked handles";
}

/// <summary>One soak thread: its own objects, on the shared devices, and its own connection to the peer.</summary>
internal sealed class Worker(Devices devices, Socket peer, Random random)
{
    private const int MaxHandles = 6, MaxBuffers = 8;
    private readonly List<(GemHandle Handle, DmaBufIdentity Object)> _handles = [];
    private readonly List<(DmaBuf Buffer, DmaBufIdentity Object)> _buffers = [];

    public long Operations { get; private set; }

    /// <summary>Every operation once, unchecked and not counted, then everything disposed.</summary>
    public void Warm()
    {
        Create();
        Export();
        Import();
        Duplicate();
        Map();
        Pass();
        Hostile();
        DisposeAll();
    }

    public void Run(Stopwatch clock, TimeSpan duration)
    {
        while (clock.Elapsed < duration)
        {
            int pick = random.Next(100);
            string name = pick switch { < 14 => "create", < 30 => "export", < 46 => "import", < 58 => "duplicate", < 68 => "map", < 76 => "pass", < 82 => "hostile", _ => "dispose" };
            try
            {
                switch (name)
                {
                    case "create": Create(); break;
                    case "export": Export(); break;
                    case "import": Import(); break;
                    case "duplicate": Duplicate(); break;
                    case "map": Map(); break;
                    case "pass": Pass(); break;
                    case "hostile": Hostile(); break;
                    default: DisposeOne(); break;
                }
            }
            catch (Exception e)
            {
                Violations.Report($"{name} threw {e.GetType().Name}: {e.Message}");
            }

            Operations++;
            CheckHandles();
        }

        DisposeAll();
    }

    private void Create()
    {
        if (_handles.Count >= MaxHandles)
        {
            DisposeOne();
            return;
        }

        DrmDevice device = random.Next(2) == 0 ? devices.VgemCard : devices.Vkms;
        var dumb = device.CreateDumbBuffer(Soak.Width, Soak.Height, 32);
        try
        {
            DmaBuf exported = device.ExportDmaBuf(dumb.Handle, DmaBufExportFlags.ReadWrite);
            AddHandle(dumb.Handle, exported.Identity);
            AddBuffer(exported, exported.Identity);
        }
        catch
        {
            dumb.Dispose();
            throw;
        }
    }

    private void Export()
    {
        if (_handles.Count == 0)
        {
            Create();
            return;
        }

        var (handle, obj) = _handles[random.Next(_handles.Count)];
        DmaBuf exported = handle.Device.ExportDmaBuf(handle, DmaBufExportFlags.ReadWrite);
        if (exported.Identity != obj)
        {
            Violations.Report($"export of {handle} gave {exported.Identity}, not {obj}");
        }

        AddBuffer(exported, obj);
    }

    private void Import()
    {
        if (_buffers.Count == 0)
        {
            Create();
            return;
        }

        var (buffer, obj) = _buffers[random.Next(_buffers.Count)];
        DrmDevice device = random.Next(3) switch { 0 => devices.VgemCard, 1 => devices.VgemRender, _ => devices.Vkms };
        GemHandle imported = device.ImportDmaBuf(buffer);
        foreach (var (other, otherObj) in _handles.Where(h => h.Handle.Device == device && h.Object == obj))
        {
            if (other.Value != imported.Value || !other.RefersToSameObject(imported))
            {
                Violations.Report($"importing {obj} into {device.Path} gave handle {imported.Value}, but {other} already names it");
            }
        }

        AddHandle(imported, obj);
    }

    private void Duplicate()
    {
        if (_buffers.Count == 0)
        {
            Create();
            return;
        }

        var (buffer, obj) = _buffers[random.Next(_buffers.Count)];
        DmaBuf copy = buffer.Duplicate();
        if (copy.Identity != obj)
        {
            Violations.Report($"a duplicate of {buffer} is {copy.Identity}, not {obj}");
        }

        AddBuffer(copy, obj);
    }

    /// <summary>Writes a fresh pattern through one mapping and reads it back through another fd's own mapping.</summary>
    private void Map()
    {
        if (_buffers.Count == 0)
        {
            Create();
            return;
        }

        var (buffer, obj) = _buffers[random.Next(_buffers.Count)];
        var sameObject = _buffers.Where(b => b.Object == obj).ToList();
        DmaBuf reader = sameObject[random.Next(sameObject.Count)].Buffer;
        uint seed = (uint)random.Next();
        Pattern.Write(buffer, seed);
        if (Pattern.FirstMismatch(reader, seed) is int word and >= 0)
        {
            Violations.Report($"{obj}: word {word} written through {buffer} read back wrong through {reader}");
        }
    }

    /// <summary>
    /// Sends a buffer to the peer, which checks its pattern, imports it into vgem and vkms, writes the inverted
    /// pattern and sends back its own export of the vkms import: the same dma-buf.
    /// </summary>
    private void Pass()
    {
        if (_buffers.Count == 0)
        {
            Create();
            return;
        }

        var (buffer, obj) = _buffers[random.Next(_buffers.Count)];
        uint seed = Pattern.SeedOf(obj);
        Pattern.Write(buffer, seed);
        using (var description = new DmaBufDescription(Soak.Width, Soak.Height, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
                   [new DmaBufPlane(buffer.Duplicate(), 0, Soak.Pitch)]))
        {
            peer.SendDmaBufAsync(description).AsTask().GetAwaiter().GetResult();
        }

        using var reply = peer.ReceiveDmaBufAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult()
            ?? throw new IOException("the peer closed the connection");
        DmaBuf back = reply.Planes[0].Buffer;
        if (back.Identity != obj)
        {
            Violations.Report($"the peer sent back {back.Identity} for {obj}");
        }
        else if (Pattern.FirstMismatch(back, ~seed) is int word and >= 0)
        {
            Violations.Report($"{obj}: word {word} of the peer's pattern is wrong");
        }

        AddBuffer(back.Duplicate(), back.Identity);
    }

    /// <summary>
    /// What a hostile peer sends, on a connection of its own whose receiving end has SO_PASSCRED and SO_PASSPIDFD (so
    /// that the kernel adds the sender's pidfd to every message): as a plane, an O_PATH fd of one of this worker's
    /// dma-bufs (fstatfs says dma-buf) or an fd of the wrong kind (a socket), through a random receive path; and a
    /// process handle whose pid is a dma-buf's fd number, which must not be sent as an fd at all. Each is refused and
    /// costs its message only: the real dma-buf sent last arrives. The end's fd table shows that every refused fd and
    /// every pidfd was closed.
    /// </summary>
    private void Hostile()
    {
        if (_buffers.Count == 0)
        {
            Create();
            return;
        }

        var (buffer, obj) = _buffers[random.Next(_buffers.Count)];
        var (sender, receiver) = HostilePeer.Connect();
        using (sender)
        using (receiver)
        {
            byte[] wire = new byte[DmaBufDescription.WireSize];
            using (var description = new DmaBufDescription(Soak.Width, Soak.Height, DrmFourcc.Xrgb8888, DmaBufDescription.LinearModifier,
                       [new DmaBufPlane(buffer.Duplicate(), 0, Soak.Pitch)]))
            {
                description.Write(wire);
            }

            int errno = Libc.Open($"/proc/self/fd/{buffer.FileDescriptor}", Libc.O_PATH | Libc.O_CLOEXEC, out int pathFd);
            if (errno != 0)
            {
                Violations.Report($"hostile: cannot open an O_PATH fd of {obj}: errno {errno}");
                return;
            }

            using (var pathOnly = new SafeFileHandle(pathFd, ownsHandle: true))
            {
                SafeHandle plane = random.Next(2) == 0 ? pathOnly : sender.SafeHandle;
                sender.SendWithFds(wire, plane);
                ExpectRefused(receiver, random.Next(3), plane == pathOnly ? "an O_PATH fd of a dma-buf" : "a socket");
            }

            using (var process = new SafeProcessHandle(buffer.DangerousGetHandle(), ownsHandle: false))
            {
                try
                {
                    sender.SendWithFds(wire, process);
                    Violations.Report("hostile: a SafeProcessHandle was sent as an fd");
                }
                catch (ArgumentException)
                {
                }
            }

            sender.SendWithFds(wire, buffer); // the connection still carries the real thing
            using var good = receiver.ReceiveDmaBufAsync().AsTask().GetAwaiter().GetResult();
            if (good?.Planes[0].Buffer.Identity != obj)
            {
                Violations.Report($"hostile: after the refused messages {obj} arrived as {good?.Planes[0].Buffer.Identity.ToString() ?? "nothing"}");
            }
        }
    }

    /// <summary>Receives one message through path <paramref name="path"/>; its one fd must be refused as not a dma-buf.</summary>
    private static void ExpectRefused(Socket receiver, int path, string what)
    {
        try
        {
            switch (path)
            {
                case 0:
                    using (receiver.ReceiveDmaBufAsync().AsTask().GetAwaiter().GetResult())
                    {
                    }

                    break;
                case 1:
                    using (var fds = receiver.ReceiveWithFds(new byte[DmaBufDescription.WireSize]))
                    {
                        fds.TakeDmaBuf(0).Dispose();
                    }

                    break;
                default:
                    int unused = 0;
                    receiver.ReceiveScoped(new byte[DmaBufDescription.WireSize], 1, ref unused, static (scoped BorrowedReceivedFds fds, ref int _) => fds.BorrowDmaBuf(0));
                    break;
            }

            Violations.Report($"hostile: {what} was taken as a dma-buf (receive path {path})");
        }
        catch (InvalidDataException)
        {
        }
    }

    private void DisposeOne()
    {
        if (_handles.Count > 0 && (random.Next(2) == 0 || _buffers.Count == 0))
        {
            int i = random.Next(_handles.Count);
            _handles[i].Handle.Dispose();
            _handles.RemoveAt(i);
        }
        else if (_buffers.Count > 0)
        {
            int i = random.Next(_buffers.Count);
            _buffers[i].Buffer.Dispose();
            _buffers.RemoveAt(i);
        }
    }

    /// <summary>Each live handle still names a live kernel handle of its own object, and no two objects share a number.</summary>
    private void CheckHandles()
    {
        foreach (var (handle, obj) in _handles)
        {
            try
            {
                if (handle.IsDisposed || handle.ReferenceCount < 1)
                {
                    Violations.Report($"{handle} is closed or uncounted while still in use");
                    continue;
                }

                using var again = handle.Device.ExportDmaBuf(handle);
                if (again.Identity != obj)
                {
                    Violations.Report($"{handle} now names {again.Identity}, not {obj}");
                }
            }
            catch (Exception e)
            {
                Violations.Report($"{handle} ({obj}) is no longer usable: {e.GetType().Name}: {e.Message}");
            }
        }

        foreach (var group in _handles.GroupBy(h => (h.Handle.Device, h.Handle.Value)))
        {
            if (group.Select(h => h.Object).Distinct().Count() > 1)
            {
                Violations.Report($"handle {group.Key.Value} on {group.Key.Device.Path} stands for {group.Count()} different objects");
            }
        }
    }

    private void AddHandle(GemHandle handle, DmaBufIdentity obj)
    {
        devices.HighWater.Saw(handle);
        _handles.Add((handle, obj));
        if (_handles.Count > MaxHandles)
        {
            _handles[0].Handle.Dispose();
            _handles.RemoveAt(0);
        }
    }

    private void AddBuffer(DmaBuf buffer, DmaBufIdentity obj)
    {
        _buffers.Add((buffer, obj));
        if (_buffers.Count > MaxBuffers)
        {
            _buffers[0].Buffer.Dispose();
            _buffers.RemoveAt(0);
        }
    }

    private void DisposeAll()
    {
        _handles.ForEach(h => h.Handle.Dispose());
        _buffers.ForEach(b => b.Buffer.Dispose());
        _handles.Clear();
        _buffers.Clear();
    }
}

/// <summary>A connected pair on an abstract AF_UNIX address (.NET has no socketpair): what a hostile peer talks on.</summary>
internal static class HostilePeer
{
    private static int _next;

    /// <summary>A connected seqpacket pair; the receiver passes credentials and, where the kernel has it (6.5), pidfds.</summary>
    public static (Socket Sender, Socket Receiver) Connect()
    {
        var address = new UnixDomainSocketEndPoint($"\0primeinterop-soak-{Environment.ProcessId}-{Interlocked.Increment(ref _next)}");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        listener.Bind(address);
        listener.Listen(1);
        var sender = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        try
        {
            sender.Connect(address);
            Socket receiver = listener.Accept();
            receiver.SetRawSocketOption(ScmRights.SOL_SOCKET, ScmRights.SO_PASSCRED, BitConverter.GetBytes(1));
            try
            {
                receiver.SetRawSocketOption(ScmRights.SOL_SOCKET, ScmRights.SO_PASSPIDFD, BitConverter.GetBytes(1));
            }
            catch (SocketException)
            {
                // before Linux 6.5: no pidfds to close
            }

            return (sender, receiver);
        }
        catch
        {
            sender.Dispose();
            throw;
        }
    }
}
