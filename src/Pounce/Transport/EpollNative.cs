using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Pounce.Transport;

/// <summary>The Linux system calls of the readiness engine: epoll, and a non-blocking <c>recv</c> and <c>send</c>.</summary>
internal static unsafe partial class EpollNative
{
    public const uint EPOLLIN = 0x001;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int EINTR = 4;
    public const int EAGAIN = 11;

    /// <summary>
    /// The size of one <c>struct epoll_event</c> and the offset of its data: packed (12 bytes, data at 4) on x86-64,
    /// naturally aligned (16 bytes, data at 8) elsewhere.
    /// </summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <inheritdoc cref="EventSize"/>
    public static readonly int EventDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc")]
    public static partial int gettid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buf, nuint len, int flags);

    /// <summary>The socket error of a failed <c>recv</c>'s or <c>send</c>'s errno (Linux numbering).</summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        104 => SocketError.ConnectionReset,     // ECONNRESET
        103 => SocketError.ConnectionAborted,   // ECONNABORTED
        110 => SocketError.TimedOut,            // ETIMEDOUT
        32 => SocketError.Shutdown,             // EPIPE
        107 => SocketError.NotConnected,        // ENOTCONN
        9 => SocketError.OperationAborted,      // EBADF
        113 => SocketError.HostUnreachable,     // EHOSTUNREACH
        101 => SocketError.NetworkUnreachable,  // ENETUNREACH
        100 => SocketError.NetworkDown,         // ENETDOWN
        12 or 105 => SocketError.NoBufferSpaceAvailable, // ENOMEM, ENOBUFS
        _ => SocketError.SocketError,
    };
}
