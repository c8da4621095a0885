namespace Pounce.Transport;

/// <summary>
/// The readiness engine's table of registered sockets: an event carries a slot and a generation, so the engine finds
/// its receiver without a handle to a managed object, and an event that arrives after its socket left (its slot freed,
/// perhaps taken again) is recognised as stale by its generation and dropped.
/// </summary>
/// <remarks>Registration and release take a lock; <see cref="Find"/> (the engine's thread, per event) takes none.</remarks>
internal sealed class EpollRegistry
{
    private readonly Lock _lock = new();
    private readonly Stack<int> _free = new();
    private EpollReceiver?[] _slots;
    private int _next;
    private int _generation;

    /// <summary>A table of <paramref name="capacity"/> slots to begin with; it doubles when full.</summary>
    public EpollRegistry(int capacity = 1024) => _slots = new EpollReceiver?[Math.Max(1, capacity)];

    /// <summary>Slots ever taken (the table's high-water mark).</summary>
    public int Capacity => Volatile.Read(ref _slots).Length;

    /// <summary>Creates a receiver in a free slot, with a generation no earlier receiver of that slot had.</summary>
    public EpollReceiver Add(Func<int, int, EpollReceiver> create)
    {
        lock (_lock)
        {
            var slot = _free.Count > 0 ? _free.Pop() : _next++;
            var slots = _slots;
            if (slot == slots.Length)
            {
                var grown = new EpollReceiver?[slots.Length * 2];
                slots.CopyTo(grown, 0);
                // Entries are written after the table is published, so a reader holding the old table misses only
                // slots that received no event yet (their socket joins the epoll set after this returns).
                Volatile.Write(ref _slots, slots = grown);
            }
            var receiver = create(slot, ++_generation);
            Volatile.Write(ref slots[slot], receiver);
            return receiver;
        }
    }

    /// <summary>The receiver of an event's slot and generation, or null when that registration is gone.</summary>
    public EpollReceiver? Find(int slot, int generation)
    {
        var slots = Volatile.Read(ref _slots);
        if ((uint)slot >= (uint)slots.Length)
            return null;
        var receiver = Volatile.Read(ref slots[slot]);
        return receiver is not null && receiver.Generation == generation ? receiver : null;
    }

    /// <summary>Frees <paramref name="slot"/> for another registration.</summary>
    public void Free(int slot)
    {
        lock (_lock)
        {
            Volatile.Write(ref _slots[slot], null);
            _free.Push(slot);
        }
    }
}
