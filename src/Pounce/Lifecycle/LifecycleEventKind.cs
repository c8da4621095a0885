namespace Pounce.Lifecycle;

/// <summary>The lifecycle events of the contract; each value's name is the event's <c>event</c> field.</summary>
public enum LifecycleEventKind : byte
{
    /// <summary>A TCP connection was accepted and its protocol is known.</summary>
    ConnectionOpened,
    /// <summary>A request head was parsed, before the application runs.</summary>
    RequestStarted,
    /// <summary>The last byte of a response was handed to the socket.</summary>
    ResponseCompleted,
    /// <summary>The client went away while a request was in flight.</summary>
    ClientDisconnected,
    /// <summary>An HTTP/1.1 connection switched protocols (101).</summary>
    ConnectionUpgraded,
    /// <summary>The connection closed, exactly once per accepted connection.</summary>
    ConnectionCompleted,
}
