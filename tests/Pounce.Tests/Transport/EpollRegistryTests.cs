using Pounce.Transport;
using Xunit;

namespace Pounce.Tests.Transport;

/// <summary>The readiness engine's table: slots grow, are reused, and an event of a gone registration finds nothing.</summary>
public sealed class EpollRegistryTests
{
    // A receiver that is never received from or closed: the table only stores it.
    private static EpollReceiver Create(int slot, int generation) => new(null!, null!, -1, slot, generation);

    [Fact]
    public void Table_Grows_AndEveryRegistrationIsFoundByItsSlotAndGeneration()
    {
        var registry = new EpollRegistry(capacity: 2);
        var receivers = new List<EpollReceiver>();
        for (var i = 0; i < 9; i++)
            receivers.Add(registry.Add(Create));
        Assert.True(registry.Capacity >= 9, $"capacity {registry.Capacity} for 9 registrations");
        Assert.Equal(9, receivers.Select(r => r.Slot).Distinct().Count());
        foreach (var r in receivers)
            Assert.Same(r, registry.Find(r.Slot, r.Generation));
    }

    [Fact]
    public void FreedSlot_IsTakenAgain_WithANewGeneration_AndTheOldEventFindsNothing()
    {
        var registry = new EpollRegistry(capacity: 4);
        var first = registry.Add(Create);
        var other = registry.Add(Create);
        registry.Free(first.Slot);
        Assert.Null(registry.Find(first.Slot, first.Generation)); // freed: an event still in flight is dropped

        var second = registry.Add(Create);
        Assert.Equal(first.Slot, second.Slot);
        Assert.NotEqual(first.Generation, second.Generation);
        Assert.Null(registry.Find(first.Slot, first.Generation)); // the old registration's event is stale
        Assert.Same(second, registry.Find(second.Slot, second.Generation));
        Assert.Same(other, registry.Find(other.Slot, other.Generation));
    }

    [Fact]
    public void SlotsOutsideTheTable_FindNothing()
    {
        var registry = new EpollRegistry(capacity: 2);
        Assert.Null(registry.Find(-1, 1));
        Assert.Null(registry.Find(1_000_000, 1));
        Assert.Null(registry.Find(0, 1)); // never taken
    }
}
