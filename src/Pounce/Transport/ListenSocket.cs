using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Pounce.Transport;

/// <summary>
/// Creates listening sockets: one per worker with SO_REUSEPORT on Linux, else one shared socket; one shared socket
/// for a Unix domain socket path.
/// </summary>
/// <remarks>
/// SO_REUSEPORT lets any process of the same user bind the same port and silently take a share of its connections.
/// So before binding its group a server first binds the address alone (without SO_REUSEPORT), which fails with
/// "address already in use" when another process listens there, as Kestrel would; only then do its own workers'
/// sockets join one another on the port.
/// </remarks>
internal static class ListenSocket
{
    private const int SolSocket = 1;
    private const int SoReuseAddr = 2;
    private const int SoReusePort = 15;

    /// <summary>Whether each worker can have its own listening socket on the same port.</summary>
    public static bool SupportsReusePort => OperatingSystem.IsLinux();

    /// <summary>
    /// Binds <paramref name="count"/> sockets to <paramref name="endPoint"/>. With port 0 a free port is picked first
    /// and every socket binds it, so all workers share one real port. Throws <see cref="SocketException"/>
    /// (<see cref="SocketError.AddressAlreadyInUse"/>) when another socket already listens on the address.
    /// </summary>
    public static Socket[] Bind(IPEndPoint endPoint, int count, int backlog)
    {
        var reusePort = SupportsReusePort && count > 1;
        var bound = endPoint;
        if (reusePort)
        {
            // The exclusive check: a socket without SO_REUSEPORT cannot bind where any other socket is bound.
            using var probe = Create(endPoint, reusePort: false);
            probe.Bind(endPoint);
            bound = (IPEndPoint)probe.LocalEndPoint!;
        }
        var sockets = new Socket[reusePort ? count : 1];
        try
        {
            for (var i = 0; i < sockets.Length; i++)
            {
                var socket = Create(bound, reusePort);
                sockets[i] = socket;
                socket.Bind(bound);
                socket.Listen(backlog);
                if (i == 0)
                    bound = (IPEndPoint)socket.LocalEndPoint!;
            }
        }
        catch
        {
            foreach (var s in sockets)
                s?.Dispose();
            throw;
        }
        return sockets;
    }

    /// <summary>
    /// Binds a Unix domain socket at <paramref name="path"/>, shared by every worker. A file left there by a process
    /// that no longer listens (connecting is refused) is replaced; a live listener is "address already in use".
    /// </summary>
    public static Socket BindUnix(string path, int backlog)
    {
        var endPoint = new UnixDomainSocketEndPoint(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            try
            {
                socket.Bind(endPoint);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse && IsStale(path, endPoint))
            {
                File.Delete(path);
                socket.Bind(endPoint);
            }
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A socket file nobody listens on (never a regular file: opening a socket file fails, a regular one's succeeds).</summary>
    private static bool IsStale(string path, UnixDomainSocketEndPoint endPoint)
    {
        try
        {
            using (File.OpenHandle(path))
                return false;
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            client.Connect(endPoint);
            return false;
        }
        catch (SocketException ex)
        {
            return ex.SocketErrorCode == SocketError.ConnectionRefused;
        }
    }

    private static Socket Create(IPEndPoint endPoint, bool reusePort)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true;
            if (reusePort)
                SetOption(socket, SoReusePort);
            // SO_REUSEADDR alone (a restart binds over connections in TIME_WAIT). Not SocketOptionName.ReuseAddress: on
            // Linux .NET sets SO_REUSEPORT with it too, which would let a second server share the port silently.
            if (OperatingSystem.IsLinux())
                SetOption(socket, SoReuseAddr);
            else if (!OperatingSystem.IsWindows())
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.NoDelay = true;
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void SetOption(Socket socket, int option)
    {
        Span<byte> one = stackalloc byte[4];
        MemoryMarshal.Write(one, 1);
        socket.SetRawSocketOption(SolSocket, option, one);
    }
}
