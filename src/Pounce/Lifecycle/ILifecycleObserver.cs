namespace Pounce.Lifecycle;

/// <summary>
/// Receives lifecycle events in-process, after the level gate and the health-check filter, synchronously on the
/// thread of the connection that produced them. Register one with <see cref="LifecycleEmitter.AddObserver"/>, or
/// in DI as a singleton <see cref="ILifecycleObserver"/> before the emitter is first resolved.
/// </summary>
/// <remarks>
/// Implementations must be thread-safe and fast (they run on the request path) and must not keep the event, whose
/// <see cref="LifecycleEvent.Connection"/> and <see cref="LifecycleEvent.Request"/> are live, reused objects: copy
/// what is needed, for example with <see cref="LifecycleEvent.GetFields"/>. An exception thrown by an observer is
/// caught and counted in <see cref="LifecycleEmitter.ObserverFaults"/>; it never reaches the protocol code.
/// </remarks>
public interface ILifecycleObserver
{
    /// <summary>Called once for each emitted event.</summary>
    void OnEvent(in LifecycleEvent e);
}
