using LoopOrder.Interop;
using LoopOrder.Queues.Targets.Nbd;
using Xunit.Abstractions;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>The flush across connections, against nbdkit with and without multi-conn.</summary>
public sealed class NbdConnectionSetTests(ITestOutputHelper output)
{
    private const int Block = 4096;

    [Fact]
    public void Without_multi_conn_a_flush_goes_to_every_connection_that_carried_a_write_and_only_those()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("--filter=multi-conn", "memory", "size=1M", "multi-conn-mode=disable");
        using NbdConnectionSet set = NbdConnectionSet.Open(server.Uri(), 3);
        Assert.False(set.Export.CanMultiConn);
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);

        Assert.Equal(Block, set.Run(0, NbdCommand.Write, 0, Block, b));
        Assert.Equal(0, set.Run(2, NbdCommand.Trim, Block, Block, 0));
        Assert.Equal(Block, set.Run(1, NbdCommand.Read, 0, Block, b));
        Assert.Equal(0, set.FlushAll());
        Assert.Equal([1L, 0L, 1L], Flushes(set));

        // Nothing written since: no flush is sent at all.
        Assert.Equal(0, set.FlushAll());
        Assert.Equal([1L, 0L, 1L], Flushes(set));
        Assert.Equal(1, set.FlushesSkipped);

        Assert.Equal(0, set.Run(1, NbdCommand.WriteZeroes, 0, Block, 0));
        Assert.Equal(0, set.FlushAll());
        Assert.Equal([1L, 1L, 1L], Flushes(set));
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("emulate")]
    public void With_multi_conn_one_flush_on_one_connection_covers_all(string mode)
    {
        string[] args = mode == "memory"
            ? ["memory", "size=1M"]
            : ["--filter=multi-conn", "memory", "size=1M", "multi-conn-mode=emulate"];
        using NbdTestServer server = NbdTestServer.Nbdkit(args);
        using NbdConnectionSet set = NbdConnectionSet.Open(server.Uri(), 4);
        output.WriteLine($"{server.Description}: {set.Export.Flags}");
        Assert.True(set.Export.CanMultiConn);
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(Block, set.Run(i, NbdCommand.Write, (long)i * Block, Block, b));
        }

        Assert.Equal(0, set.FlushAll());
        Assert.Equal(1, Flushes(set).Sum());
        Assert.Equal(0, set.FlushAll());
        Assert.Equal(1, Flushes(set).Sum());
    }

    [Fact]
    public void A_dirty_connection_that_dropped_fails_every_later_flush_with_EIO()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("--filter=multi-conn", "memory", "size=1M", "multi-conn-mode=disable");
        using NbdConnectionSet set = NbdConnectionSet.Open(server.Uri(), 2);
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);
        Assert.Equal(Block, set.Run(0, NbdCommand.Write, 0, Block, b));
        Assert.Equal(Block, set.Run(1, NbdCommand.Write, Block, Block, b));

        set[1].Abort();
        SpinWait.SpinUntil(() => !set[1].IsConnected, TimeSpan.FromSeconds(30));

        // The write that connection 1 acknowledged can no longer be made durable: the flush fails,
        // and keeps failing (its mark is given back), while connection 0 keeps working.
        Assert.Equal(Errno.EIO.ToResult(), set.FlushAll());
        Assert.True(set.Dirty.IsDirty(1));
        Assert.Equal(Errno.EIO.ToResult(), set.FlushAll());
        Assert.Equal(Block, set.Run(0, NbdCommand.Read, 0, Block, b));
    }

    [Fact]
    public void With_multi_conn_a_flush_skips_a_dropped_connection()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("memory", "size=1M");
        using NbdConnectionSet set = NbdConnectionSet.Open(server.Uri(), 2);
        using var buffers = new NbdBuffers();
        nint b = buffers.Allocate(Block);
        Assert.Equal(Block, set.Run(1, NbdCommand.Write, 0, Block, b));
        set[1].Abort();
        SpinWait.SpinUntil(() => !set[1].IsConnected, TimeSpan.FromSeconds(30));

        // The server shares one cache among connections, so connection 0's flush covers the write
        // connection 1 completed before it dropped.
        Assert.Equal(0, set.FlushAll());
        Assert.Equal(1, set[0].FlushesSent);
    }

    [Fact]
    public void Data_written_on_one_connection_reads_back_on_another_after_the_set_flush()
    {
        using NbdTestServer server = NbdServerTests.Start("qemu-nbd");
        using NbdConnectionSet set = NbdConnectionSet.Open(server.Uri(), 2);
        output.WriteLine($"qemu-nbd, 2 connections: {set.Export.Flags}");
        using var buffers = new NbdBuffers();
        nint w = buffers.Allocate(Block);
        nint r = buffers.Allocate(Block);
        NbdBuffers.Fill(w, Block, 11);
        Assert.Equal(Block, set.Run(0, NbdCommand.Write, 0, Block, w));
        Assert.Equal(0, set.FlushAll());
        Assert.Equal(Block, set.Run(1, NbdCommand.Read, 0, Block, r));
        Assert.True(NbdBuffers.Span(r, Block).SequenceEqual(NbdBuffers.Span(w, Block)));
        Assert.Equal(1, set[0].FlushesSent + set[1].FlushesSent);
    }

    private static long[] Flushes(NbdConnectionSet set) => [.. Enumerable.Range(0, set.Count).Select(i => set[i].FlushesSent)];
}

/// <summary>Several threads submitting to one set at once, with flushes among them.</summary>
public sealed class NbdConnectionSetConcurrencyTests
{
    private const int Block = 4096;

    [Theory]
    [InlineData("multi-conn")]
    [InlineData("disable")]
    public void Concurrent_writers_readers_and_flushes_each_get_their_own_result(string mode)
    {
        const int Threads = 4;
        const int Rounds = 300;
        using NbdTestServer server = mode == "multi-conn"
            ? NbdTestServer.Nbdkit("memory", "size=16M")
            : NbdTestServer.Nbdkit("--filter=multi-conn", "memory", "size=16M", "multi-conn-mode=disable");
        using NbdConnectionSet set = NbdConnectionSet.Open(server.Uri(), 3, new NbdConnectionOptions { MaxInFlight = 8 });
        using var buffers = new NbdBuffers();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var bufs = Enumerable.Range(0, Threads).Select(_ => (W: buffers.Allocate(Block * 4), R: buffers.Allocate(Block * 4))).ToArray();
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var outcomes = new[] { new Outcome(), new Outcome(), new Outcome(), new Outcome() };
            (nint w, nint r) = bufs[t];
            for (int round = 0; round < Rounds; round++)
            {
                // Four writes in flight at once on whichever connections the set picks, then a flush, then read back.
                for (int k = 0; k < 4; k++)
                {
                    NbdBuffers.Fill(w + (k * Block), Block, (t * 1000) + round + k);
                    set.Submit(-1, NbdCommand.Write, NbdCommandFlags.None, ((long)t * 64 * Block) + (k * Block), Block, w + (k * Block), outcomes[k], null);
                }

                for (int k = 0; k < 4; k++)
                {
                    int res = outcomes[k].Wait();
                    if (res != Block)
                    {
                        failures.Enqueue($"thread {t} round {round} write {k}: {res}");
                    }
                }

                set.Flush(outcomes[0], null);
                if (outcomes[0].Wait() is int f and not 0)
                {
                    failures.Enqueue($"thread {t} round {round} flush: {f}");
                }

                set.Submit(-1, NbdCommand.Read, NbdCommandFlags.None, (long)t * 64 * Block, 4 * Block, r, outcomes[1], null);
                if (outcomes[1].Wait() != 4 * Block || !NbdBuffers.Span(r, 4 * Block).SequenceEqual(NbdBuffers.Span(w, 4 * Block)))
                {
                    failures.Enqueue($"thread {t} round {round}: read back differs");
                }
            }
        })).ToArray();
        foreach (Thread th in threads)
        {
            th.Start();
        }

        foreach (Thread th in threads)
        {
            Assert.True(th.Join(TimeSpan.FromMinutes(5)), "a submitter hung");
        }

        Assert.Empty(failures);
        Assert.Equal(Threads * Rounds, set.Flushes);
        Assert.All(Enumerable.Range(0, set.Count), i => Assert.Equal(0, set[i].InFlight));
    }
}
