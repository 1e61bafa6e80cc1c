using LoopOrder.Interop.Rbd;

namespace LoopOrder.Interop.Tests;

/// <summary>
/// librbd's callback argument carries a sink index and a slot as one number (no GCHandle), and
/// sink indexes are reused, so a daemon that adds and deletes devices does not grow the table.
/// The callback itself runs against a real cluster in the RBD target's tests.
/// </summary>
public sealed class RbdCompletionsTests
{
    private sealed class Sink : IRbdCompletionSink
    {
        public void RbdCompleted(int slot, long result)
        {
        }
    }

    [Fact]
    public void The_callback_argument_keeps_sink_and_slot_apart_for_every_value()
    {
        foreach ((int sink, int slot) in new[] { (0, 0), (1, 0), (0, 1), (5, 123456), (int.MaxValue, int.MaxValue), (3, -1) })
        {
            long packed = RbdCompletions.Argument(sink, slot);
            Assert.Equal(sink, (int)(packed >> 32));
            Assert.Equal(slot, (int)(uint)packed);
        }
    }

    [Fact]
    public void Unregistered_indexes_are_reused_and_the_table_grows_past_its_first_size()
    {
        var sinks = Enumerable.Range(0, 40).Select(_ => new Sink()).ToArray();
        int[] ids = [.. sinks.Select(RbdCompletions.Register)];
        Assert.Equal(ids.Length, ids.Distinct().Count());
        RbdCompletions.Unregister(ids[7]);
        Assert.Equal(ids[7], RbdCompletions.Register(new Sink()));
        foreach (int id in ids)
        {
            RbdCompletions.Unregister(id);
        }
    }
}
