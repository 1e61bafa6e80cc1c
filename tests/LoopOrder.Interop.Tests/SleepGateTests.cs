namespace LoopOrder.Interop.Tests;

/// <summary>The sleep/wake state machine's rules, one transition at a time.</summary>
public sealed class SleepGateTests
{
    [Fact]
    public void An_owner_with_no_pending_wake_may_sleep_and_wakes_up_awake()
    {
        var gate = new SleepGate();
        Assert.False(gate.IsSleeping);
        Assert.True(gate.TryBeginSleep());
        Assert.True(gate.IsSleeping);
        gate.EndSleep();
        Assert.False(gate.IsSleeping);
        Assert.False(gate.IsWakePending);
        Assert.True(gate.TryBeginSleep());
    }

    [Fact]
    public void A_sticky_wake_of_an_awake_owner_needs_no_signal_and_cancels_its_next_sleep_only()
    {
        var gate = new SleepGate();
        Assert.False(gate.Wake());
        Assert.True(gate.IsWakePending);
        Assert.False(gate.Wake()); // already pending: still nothing to signal

        Assert.False(gate.TryBeginSleep()); // takes the wake instead of sleeping
        Assert.False(gate.IsWakePending);
        Assert.True(gate.TryBeginSleep()); // taken once only
    }

    [Fact]
    public void A_wake_of_a_sleeping_owner_is_signalled_by_exactly_one_producer()
    {
        var gate = new SleepGate();
        Assert.True(gate.TryBeginSleep());
        Assert.True(gate.Wake());
        Assert.False(gate.IsSleeping);
        Assert.False(gate.Wake());
        Assert.False(gate.WakeIfSleeping());

        // The wake that ended this sleep is taken with it: the next sleep is not cancelled.
        gate.EndSleep();
        Assert.True(gate.TryBeginSleep());
        Assert.True(gate.WakeIfSleeping());
        Assert.False(gate.WakeIfSleeping());
        Assert.False(gate.Wake());
        gate.EndSleep();
        Assert.True(gate.TryBeginSleep());
    }

    [Fact]
    public void Wake_if_sleeping_leaves_an_awake_owner_alone()
    {
        var gate = new SleepGate();
        Assert.False(gate.WakeIfSleeping());
        Assert.False(gate.IsWakePending);
        Assert.True(gate.TryBeginSleep());
    }

    [Fact]
    public void Of_many_producers_racing_to_wake_one_sleeping_owner_exactly_one_signals()
    {
        const int Producers = 8;
        const int Rounds = 2000;
        var gate = new SleepGate();
        using var start = new Barrier(Producers + 1);
        int[] signals = new int[Rounds];
        var threads = new Thread[Producers];
        for (int p = 0; p < Producers; p++)
        {
            bool sticky = p % 2 == 0;
            threads[p] = new Thread(() =>
            {
                for (int round = 0; round < Rounds; round++)
                {
                    start.SignalAndWait();
                    if (sticky ? gate.Wake() : gate.WakeIfSleeping())
                    {
                        Interlocked.Increment(ref signals[round]);
                    }

                    start.SignalAndWait();
                }
            });
            threads[p].Start();
        }

        for (int round = 0; round < Rounds; round++)
        {
            Assert.True(gate.TryBeginSleep());
            start.SignalAndWait();
            start.SignalAndWait();
            gate.EndSleep();
        }

        foreach (Thread t in threads)
        {
            t.Join();
        }

        Assert.All(signals, n => Assert.Equal(1, n));
    }
}
