using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Pounce.Transport;

/// <summary>Creates listening sockets: one per worker with SO_REUSEPORT on Linux, else one shared socket.</summary>
internal static class ListenSocket
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    /// <summary>Whether each worker can have its own listening socket on the same port.</summary>
    public static bool SupportsReusePort => OperatingSystem.IsLinux();

    /// <summary>
    /// Binds <paramref name="count"/> sockets to <paramref name="endPoint"/>. With port 0 the first socket picks a
    /// free port and the others join it, so all workers share one real port.
    /// </summary>
    public static Socket[] Bind(IPEndPoint endPoint, int count, int backlog)
    {
        var reusePort = SupportsReusePort && count > 1;
        var sockets = new Socket[reusePort ? count : 1];
        var bound = endPoint;
        try
        {
            for (var i = 0; i < sockets.Length; i++)
            {
                var socket = new Socket(bound.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                sockets[i] = socket;
                if (bound.AddressFamily == AddressFamily.InterNetworkV6 && bound.Address.Equals(IPAddress.IPv6Any))
                    socket.DualMode = true;
                if (reusePort)
                    SetReusePort(socket);
                if (!OperatingSystem.IsWindows())
                    socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.NoDelay = true;
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

    private static void SetReusePort(Socket socket)
    {
        Span<byte> one = stackalloc byte[4];
        MemoryMarshal.Write(one, 1);
        socket.SetRawSocketOption(SolSocket, SoReusePort, one);
    }
}
