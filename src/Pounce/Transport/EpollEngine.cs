using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Pounce.Transport;

/// <summary>
/// Tells connections when their socket has bytes to read, so that a receive is only tried when it will find some.
/// </summary>
/// <remarks>
/// <para>The sockets of .NET try a receive first and wait for readiness only when it fails with EAGAIN. On a
/// keep-alive connection that is one failed system call per request: after answering, the server reads again before
/// the client has sent its next request. Here every connection's socket is registered once, edge-triggered, with an
/// epoll instance that a dedicated thread waits on; a connection receives only after an edge, and a receive that
/// returns less than its buffer ends the readiness (the socket is drained; the next bytes make a new edge). This is
/// how nginx reads, and it leaves one <c>recv</c> per request instead of two.</para>
/// <para>Linux only (x86-64, Arm64); elsewhere, or with <see cref="ServerConfig.EpollSockets"/> false, connections
/// use .NET's socket calls. A send is one direct non-blocking call (<see cref="EpollReceiver.Send"/>); only what the
/// socket does not take (the peer's window is full) waits with .NET's socket.</para>
/// </remarks>
internal sealed unsafe class EpollEngine
{
    private const int MaxEvents = 256;

    private static readonly Lazy<EpollEngine?> s_shared = new(Create);

    private readonly int _epoll;
    private readonly EpollRegistry _registry = new();

    private EpollEngine(int epoll)
    {
        _epoll = epoll;
        var thread = new Thread(Run)
        {
            IsBackground = true,
            Name = "Pounce epoll",
        };
        thread.UnsafeStart();
    }

    /// <summary>The process's engine, or null where readiness is not available (the socket's receive is used).</summary>
    public static EpollEngine? Shared => s_shared.Value;

    private static EpollEngine? Create()
    {
        if (!OperatingSystem.IsLinux())
            return null;
        if (RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
            return null;
        try
        {
            var epoll = EpollNative.epoll_create1(EpollNative.EPOLL_CLOEXEC);
            return epoll < 0 ? null : new EpollEngine(epoll);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Registers <paramref name="socket"/>; null when the kernel refuses it (the caller uses the socket's receive).</summary>
    public EpollReceiver? TryRegister(Socket socket)
    {
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var fd = (int)handle.DangerousGetHandle();
            var receiver = _registry.Add((slot, generation) => new EpollReceiver(this, handle, fd, slot, generation));
            var ev = stackalloc byte[16];
            *(uint*)ev = EpollNative.EPOLLIN | EpollNative.EPOLLRDHUP | EpollNative.EPOLLET;
            *(ulong*)(ev + EpollNative.EventDataOffset) = (uint)receiver.Slot | ((ulong)(uint)receiver.Generation << 32);
            if (EpollNative.epoll_ctl(_epoll, EpollNative.EPOLL_CTL_ADD, fd, ev) != 0)
            {
                _registry.Free(receiver.Slot);
                return null;
            }
            return receiver;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Removes a receiver's socket from the epoll set while its descriptor is still open, then frees its slot.</summary>
    internal void Unregister(EpollReceiver receiver, SafeSocketHandle handle, int fd)
    {
        var added = false;
        try
        {
            // Only while the descriptor is ours: once closed, its number may already belong to another connection.
            handle.DangerousAddRef(ref added);
            EpollNative.epoll_ctl(_epoll, EpollNative.EPOLL_CTL_DEL, fd, null);
        }
        catch (ObjectDisposedException)
        {
            // Closed already: the kernel dropped it from the set with its last descriptor.
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
        _registry.Free(receiver.Slot);
    }

    private void Run()
    {
        var size = EpollNative.EventSize;
        var offset = EpollNative.EventDataOffset;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * size));
        while (true)
        {
            var n = EpollNative.epoll_wait(_epoll, events, MaxEvents, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EpollNative.EINTR)
                    continue;
                // The epoll instance is broken: nothing can be waited for any more. Connections registered here
                // would wait for ever, so fail loudly rather than hang them quietly.
                Environment.FailFast("Pounce: epoll_wait failed with errno " + Marshal.GetLastPInvokeError());
            }
            for (var i = 0; i < n; i++)
            {
                var data = *(ulong*)(events + i * size + offset);
                // A stale event of a freed slot (now another connection's, or nobody's) finds no receiver.
                _registry.Find((int)(uint)data, (int)(data >> 32))?.OnReadable();
            }
        }
    }
}
