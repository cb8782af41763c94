using System.Net.Sockets;

namespace PrimeInterop;

/// <summary>Sends and receives <see cref="DmaBufDescription"/>s over AF_UNIX sockets.</summary>
public static class DmaBufSocketExtensions
{
    /// <summary>Sends the description and its planes' fds (one per plane) as one message.</summary>
    public static async ValueTask SendDmaBufAsync(this Socket socket, DmaBufDescription description, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(description);
        byte[] wire = new byte[DmaBufDescription.WireSize];
        description.Write(wire);
        int sent = await socket.SendWithFdsAsync(wire, [.. description.Planes.Select(p => (System.Runtime.InteropServices.SafeHandle)p.Buffer)], cancellationToken).ConfigureAwait(false);
        while (sent < wire.Length) // stream sockets may take it in parts; the fds went with the first
        {
            sent += await socket.SendAsync(wire.AsMemory(sent), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Receives one description; null when the peer closed the connection before sending one. On a seqpacket socket
    /// it is exactly one record (one recvmsg); on a stream socket the rest of a description sent in parts is read on.
    /// </summary>
    /// <exception cref="InvalidDataException">What arrived is not a valid description (a record shorter or longer than
    /// one, wrong magic, an fd that is not a dma-buf, …); its fds were closed and the next message is unaffected.</exception>
    public static async ValueTask<DmaBufDescription?> ReceiveDmaBufAsync(this Socket socket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        bool records = socket.SocketType == SocketType.Seqpacket;
        byte[] wire = new byte[DmaBufDescription.WireSize];
        using ReceivedFds fds = await socket.ReceiveWithFdsAsync(wire, DmaBufDescription.MaxPlanes, cancellationToken).ConfigureAwait(false);
        if (fds.BytesReceived == 0 && fds.Count == 0)
        {
            return null;
        }

        int got = fds.BytesReceived;
        if (records && got != wire.Length)
        {
            throw new InvalidDataException($"A {got}-byte record is not a buffer description ({wire.Length} bytes); its {fds.Count} fd(s) were closed.");
        }

        while (got < wire.Length)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(wire.AsMemory(got), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw DrmException.FromErrno(e.NativeErrorCode, Interop.Libc.Operation.Recv, "socket"); // one transport error type
            }

            if (n == 0)
            {
                throw new InvalidDataException($"The peer closed the connection after {got} of {wire.Length} description bytes.");
            }

            got += n;
        }

        return DmaBufDescription.Read(wire, fds);
    }
}
