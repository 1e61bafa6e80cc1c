using LoopOrder.Queues.Targets.Nbd;

namespace LoopOrder.Queues.Tests.Nbd;

public sealed class NbdDirtyTrackerTests
{
    [Fact]
    public void Take_returns_the_marked_connections_and_clears_them()
    {
        var t = new NbdDirtyTracker(4);
        Span<bool> taken = stackalloc bool[4];
        Assert.Equal(0, t.Take(taken));

        t.Mark(1);
        t.Mark(3);
        t.Mark(3);
        Assert.True(t.IsDirty(1));
        Assert.False(t.IsDirty(0));
        Assert.Equal(2, t.Take(taken));
        Assert.Equal([false, true, false, true], taken.ToArray());
        Assert.Equal(0, t.Take(taken));
        Assert.Equal([false, false, false, false], taken.ToArray());
    }

    [Fact]
    public void A_mark_given_back_after_a_failed_flush_is_taken_by_the_next()
    {
        var t = new NbdDirtyTracker(2);
        Span<bool> taken = stackalloc bool[2];
        t.Mark(0);
        Assert.Equal(1, t.Take(taken));
        t.Mark(0);
        Assert.Equal(1, t.Take(taken));
        Assert.True(taken[0]);
    }

    [Fact]
    public void No_mark_is_lost_while_flushes_take_concurrently()
    {
        // Each marker thread marks, then waits until some take has seen its mark, before marking
        // again: if a take ever cleared a mark without reporting it, that marker would wait forever.
        const int Connections = 4;
        const int Rounds = 20_000;
        var t = new NbdDirtyTracker(Connections);
        var seen = new int[Connections];
        using var done = new CancellationTokenSource();
        var taker = new Thread(() =>
        {
            var taken = new bool[Connections];
            while (!done.IsCancellationRequested)
            {
                t.Take(taken);
                for (int i = 0; i < Connections; i++)
                {
                    if (taken[i])
                    {
                        Interlocked.Increment(ref seen[i]);
                    }
                }
            }
        });
        taker.Start();
        var markers = Enumerable.Range(0, Connections).Select(c => new Thread(() =>
        {
            for (int r = 1; r <= Rounds; r++)
            {
                t.Mark(c);
                SpinWait.SpinUntil(() => Volatile.Read(ref seen[c]) >= r);
            }
        })).ToArray();
        foreach (Thread m in markers)
        {
            m.Start();
        }

        foreach (Thread m in markers)
        {
            Assert.True(m.Join(TimeSpan.FromMinutes(2)), "a mark was lost");
        }

        done.Cancel();
        taker.Join();
        Assert.All(seen, s => Assert.Equal(Rounds, s));
    }
}
