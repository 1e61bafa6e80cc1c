using System.Collections.Concurrent;
using LoopOrder.Interop.Uring;

namespace LoopOrder.Interop.Tests;

/// <summary>
/// The ring waker against a real io_uring: the eventfd is written only for a sleeping owner, and
/// under stress no wake is lost (an owner that really blocks in the ring is always woken).
/// </summary>
public sealed unsafe class RingWakerTests
{
    /// <summary>A hang guard only: a lost wake fails the test after this instead of hanging it.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromMinutes(3);

    private const ulong GuardUserData = 7;

    [Fact]
    public void Arming_puts_one_read_in_the_ring_until_its_completion_is_taken()
    {
        using var ring = new IoUring(4);
        using var waker = new RingWaker();
        waker.Arm(ring);
        waker.Arm(ring);
        Assert.Equal(1u, ring.SqPending);
        Assert.True(waker.IsArmed);

        Assert.False(waker.TryComplete(42));
        Assert.True(waker.IsArmed);

        waker.ForceWake();
        io_uring_cqe cqe = WaitOne(ring);
        Assert.Equal(RingWaker.DefaultUserData, cqe.user_data);
        Assert.Equal(sizeof(ulong), cqe.res);
        Assert.True(waker.TryComplete(cqe.user_data));
        Assert.False(waker.IsArmed);

        waker.Arm(ring);
        Assert.Equal(1u, ring.SqPending);
        waker.ForceWake();
        Assert.True(waker.TryComplete(WaitOne(ring).user_data));
    }

    [Fact]
    public void A_wake_of_an_awake_owner_writes_nothing_and_cancels_its_next_sleep()
    {
        using var ring = new IoUring(4);
        using var waker = new RingWaker();
        waker.Arm(ring);
        ring.Submit();

        Assert.False(waker.Wake());
        Assert.False(waker.WakeIfSleeping());
        ring.SubmitAndWait(0);
        Assert.Equal(0u, ring.CqReady); // the read is still pending: no eventfd write

        Assert.False(waker.TryBeginSleep());
        Assert.True(waker.TryBeginSleep());
        Assert.True(waker.IsSleeping);

        // Clean up: complete the read before the ring closes.
        Assert.True(waker.Wake());
        Assert.True(waker.TryComplete(WaitOne(ring).user_data));
        waker.EndSleep();
    }

    [Fact]
    public void A_sleeping_owner_is_woken_from_the_ring_by_the_first_producer_only()
    {
        using var ring = new IoUring(4);
        using var waker = new RingWaker();
        waker.Arm(ring);
        Assert.True(waker.TryBeginSleep());

        bool first = false;
        bool second = true;
        var producer = new Thread(() =>
        {
            first = waker.WakeIfSleeping();
            second = waker.Wake();
        });
        producer.Start();
        io_uring_cqe cqe = WaitOne(ring);
        producer.Join();
        waker.EndSleep();

        Assert.True(first);
        Assert.False(second);
        Assert.True(waker.TryComplete(cqe.user_data));
        Assert.Equal(sizeof(ulong), cqe.res);

        // Only one eventfd write: a re-armed read stays pending.
        waker.Arm(ring);
        ring.SubmitAndWait(0);
        Assert.Equal(0u, ring.CqReady);
        waker.ForceWake();
        Assert.True(waker.TryComplete(WaitOne(ring).user_data));
    }

    [Fact]
    public void Without_a_ring_the_owner_blocks_on_the_eventfd_unless_a_wake_is_pending()
    {
        using var waker = new RingWaker();
        Assert.False(waker.Wake());
        waker.SleepWithoutRing(); // returns at once: the pending wake is taken
        Assert.False(waker.IsSleeping);

        using var returned = new ManualResetEventSlim();
        var owner = new Thread(() =>
        {
            waker.SleepWithoutRing();
            returned.Set();
        });
        owner.Start();
        while (!waker.IsSleeping)
        {
            Thread.Sleep(1);
        }

        Assert.True(waker.Wake());
        Assert.True(returned.Wait(HangLimit), "the owner was not woken");
        owner.Join();
        Assert.False(waker.IsSleeping);
    }

    /// <summary>
    /// Producers hand items to an owner that blocks in its ring whenever it finds none; every item
    /// must be consumed. A lost wake leaves the owner blocked with items waiting: the test then
    /// fails at the hang limit (it does not time anything).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void No_wake_is_lost_between_producers_and_an_owner_blocking_in_its_ring(bool sticky)
    {
        const int Producers = 4;
        const int ItemsEach = 20_000;
        const int Total = Producers * ItemsEach;
        var items = new ConcurrentQueue<int>();
        using var waker = new RingWaker();
        using var done = new ManualResetEventSlim();
        int consumed = 0;
        int sleeps = 0;
        int signals = 0;
        int stop = 0;
        int announced = 0;
        Exception? ownerError = null;

        var owner = new Thread(() =>
        {
            try
            {
                using var ring = new IoUring(4);
                while (Volatile.Read(ref stop) == 0)
                {
                    while (items.TryDequeue(out _))
                    {
                        consumed++;
                    }

                    if (consumed == Total)
                    {
                        break;
                    }

                    waker.Arm(ring);
                    if (waker.TryBeginSleep())
                    {
                        announced++;

                        // WakeIfSleeping's producers rely on this look after the announcement.
                        if (!sticky && !items.IsEmpty)
                        {
                            waker.EndSleep();
                            continue;
                        }

                        sleeps++;
                        ring.SubmitAndWait(1);
                        waker.EndSleep();
                    }

                    while (ring.TryPeekCqe(out io_uring_cqe cqe))
                    {
                        ring.AdvanceCq(1);
                        Assert.True(waker.TryComplete(cqe.user_data));
                    }
                }

                // Leave no read behind in the ring about to close.
                if (waker.IsArmed)
                {
                    waker.ForceWake();
                    ring.SubmitAndWait(1);
                    ring.AdvanceCq(1);
                    waker.TryComplete(waker.UserData);
                }
            }
            catch (Exception e)
            {
                ownerError = e;
            }
            finally
            {
                done.Set();
            }
        })
        {
            IsBackground = true,
        };
        owner.Start();

        var producers = new Thread[Producers];
        for (int p = 0; p < Producers; p++)
        {
            int seed = p;
            producers[p] = new Thread(() =>
            {
                var random = new Random(seed);
                for (int i = 0; i < ItemsEach; i++)
                {
                    items.Enqueue(i);
                    if (sticky ? waker.Wake() : waker.WakeIfSleeping())
                    {
                        Interlocked.Increment(ref signals);
                    }

                    // Vary the pace so the owner keeps catching up and going to sleep.
                    if (random.Next(256) == 0)
                    {
                        Thread.Sleep(random.Next(2));
                    }
                    else if (random.Next(16) == 0)
                    {
                        Thread.Yield();
                    }
                }
            })
            {
                IsBackground = true,
            };
            producers[p].Start();
        }

        foreach (Thread t in producers)
        {
            t.Join();
        }

        bool finished = done.Wait(HangLimit);
        if (!finished)
        {
            Volatile.Write(ref stop, 1);
            waker.ForceWake();
            done.Wait(HangLimit);
        }

        Assert.Null(ownerError);
        Assert.True(finished, $"lost wake: the owner stayed blocked with {Total - Volatile.Read(ref consumed)} of {Total} items waiting");
        Assert.Equal(Total, consumed);
        Assert.True(sleeps > 0, "the owner never blocked, so the test proved nothing");
        Assert.True(signals > 0);
        Assert.True(signals <= announced, $"{signals} eventfd writes for {announced} announced sleeps: a producer signalled an awake owner");
    }

    private static io_uring_cqe WaitOne(IoUring ring)
    {
        // A hang guard only: a timeout that fires instead of the wake fails the assertion below.
        KernelTimespec guard = KernelTimespec.FromTimeSpan(HangLimit);
        Assert.True(ring.TryGetSqe(out io_uring_sqe* sqe));
        UringPrep.Timeout(sqe, &guard, 0, GuardUserData);
        ring.SubmitAndWait(1);
        Assert.True(ring.TryPeekCqe(out io_uring_cqe cqe));
        ring.AdvanceCq(1);
        Assert.NotEqual(GuardUserData, cqe.user_data);

        // Remove the guard: the cancelled timeout's CQE and the cancel's own.
        Assert.True(ring.TryGetSqe(out sqe));
        UringPrep.AsyncCancel(sqe, GuardUserData, GuardUserData + 1);
        ring.SubmitAndWait(2);
        ring.AdvanceCq(ring.CqReady);
        return cqe;
    }

}
