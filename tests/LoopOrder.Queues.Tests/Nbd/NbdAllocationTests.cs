using LoopOrder.Queues.Targets.Nbd;
using LoopOrder.Queues.Tests.Engine;

namespace LoopOrder.Queues.Tests.Nbd;

/// <summary>Steady-state commands on a connection allocate nothing, on the submitting thread or the reply reader.</summary>
[Collection(nameof(AllocationCollection))]
public sealed class NbdAllocationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Block = 4096;
    private const int WarmupCycles = 2_000;
    private const int MeasuredCycles = 10_000;
    private const int Windows = 3;

    /// <summary>
    /// Process-wide slack for the runtime's and the test runner's own threads (see the engine's
    /// AllocationTests). One allocation per command would be at least 24 B × 40k = 960 KB.
    /// </summary>
    private const long ProcessSlackBytes = 16 * 1024;

    /// <summary>
    /// The reader thread once allocated 56 B in one 10k-command window (a one-off runtime
    /// allocation on a blocking socket receive or monitor wait, seen in 1 of 3 windows); one
    /// allocation per command would be 240 KB a window.
    /// </summary>
    private const long ReaderSlackBytes = 1024;

    [Fact]
    public void Reads_writes_fua_writes_and_flushes_allocate_nothing_in_steady_state()
    {
        using NbdTestServer server = NbdTestServer.Nbdkit("memory", "size=16M");
        using NbdConnection c = NbdConnection.Open(server.Uri());
        using var buffers = new NbdBuffers();
        nint small = buffers.Allocate(Block);
        nint large = buffers.Allocate(128 * 1024);
        var probe = new ReaderProbe();

        Cycle(c, probe, small, large, WarmupCycles);
        long quietest = long.MaxValue;
        long readerQuietest = long.MaxValue;
        long readerTotal = 0;
        for (int w = 0; w < Windows; w++)
        {
            long thread0 = GC.GetAllocatedBytesForCurrentThread();
            long reader0 = probe.ReaderBytes;
            long total0 = GC.GetTotalAllocatedBytes(precise: true);
            Cycle(c, probe, small, large, MeasuredCycles);
            long thread1 = GC.GetAllocatedBytesForCurrentThread();
            long total1 = GC.GetTotalAllocatedBytes(precise: true);

            long reader = probe.ReaderBytes - reader0;
            output.WriteLine($"window {w}: submitter {thread1 - thread0} B, reader {reader} B, process {total1 - total0} B");
            Assert.Equal(0, thread1 - thread0);
            readerTotal += reader;
            readerQuietest = Math.Min(readerQuietest, reader);
            quietest = Math.Min(quietest, total1 - total0);
        }

        // The reader must have a window with no allocation at all, and stay far below one per command overall.
        Assert.Equal(0, readerQuietest);
        Assert.InRange(readerTotal, 0, ReaderSlackBytes);
        Assert.InRange(quietest, 0, ProcessSlackBytes);
    }

    private static void Cycle(NbdConnection c, ReaderProbe probe, nint small, nint large, int cycles)
    {
        for (int i = 0; i < cycles; i++)
        {
            long offset = (long)(i % 64) * 128 * 1024;
            (NbdCommand command, NbdCommandFlags flags, int length, nint buffer) = (i % 5) switch
            {
                0 => (NbdCommand.Write, NbdCommandFlags.None, Block, small),
                1 => (NbdCommand.Write, NbdCommandFlags.Fua, 128 * 1024, large),
                2 => (NbdCommand.Read, NbdCommandFlags.None, Block, small),
                3 => (NbdCommand.Read, NbdCommandFlags.None, 128 * 1024, large),
                _ => (NbdCommand.Flush, NbdCommandFlags.None, 0, 0),
            };
            c.Submit(command, flags, command == NbdCommand.Flush ? 0 : offset, length, buffer, probe, null);
            int result = probe.Wait();
            if (result != length)
            {
                Assert.Fail($"cycle {i}: {command} result {result}");
            }
        }
    }

    /// <summary>Records the reader thread's allocation count at every completion; a preallocated one-shot signal.</summary>
    private sealed class ReaderProbe : INbdCompletion
    {
        private readonly object _gate = new();
        private bool _done;
        private int _result;
        private readonly int _submitter = Environment.CurrentManagedThreadId;
        private long _readerBytes;

        public long ReaderBytes => Volatile.Read(ref _readerBytes);

        public void Completed(object? state, int result)
        {
            // A reply that beats its own send's return completes on the submitting thread, which the test measures itself.
            if (Environment.CurrentManagedThreadId != _submitter)
            {
                Volatile.Write(ref _readerBytes, GC.GetAllocatedBytesForCurrentThread());
            }

            lock (_gate)
            {
                _result = result;
                _done = true;
                Monitor.Pulse(_gate);
            }
        }

        public int Wait()
        {
            lock (_gate)
            {
                while (!_done)
                {
                    Monitor.Wait(_gate);
                }

                _done = false;
                return _result;
            }
        }
    }
}
