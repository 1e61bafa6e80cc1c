using System.Diagnostics;
using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;
using Xunit.Abstractions;

namespace LoopOrder.Queues.Tests.Backends;

/// <summary>
/// The throwaway measurement behind FileExecutor's design notes, kept so anyone can rerun it:
/// 4 KiB random writes at queue depth 32 over a 1 GiB file, through the executor (1 worker at
/// QD32, 2 workers at QD16) and through a pool of N threads doing blocking pwrite. It does
/// nothing unless LOOPORDER_MEASURE=1 (it writes 1 GiB and runs for a minute or two), and it
/// asserts nothing about speed. Run it with
/// <c>LOOPORDER_MEASURE=1 dotnet test tests/LoopOrder.Queues.Tests -c Release --filter Category=Measure --logger "console;verbosity=detailed"</c>,
/// and compare with <c>fio --name=r --filename=FILE --ioengine=io_uring --direct=1 --iodepth=32 --bs=4k --rw=randwrite --runtime=10 --time_based</c>.
/// </summary>
[Trait("Category", "Measure")]
public sealed class FileBackendMeasureTests(ITestOutputHelper output)
{
    private const int Block = 4096;
    private const long FileSize = 1L << 30;
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(5);

    [Fact]
    public void Random_4k_writes_at_qd32_executor_against_a_pwrite_pool()
    {
        if (Environment.GetEnvironmentVariable("LOOPORDER_MEASURE") != "1")
        {
            return;
        }

        using FileTestDir dir = new();
        string path = dir.Create("measure.img", FileSize);
        FillFile(path);
        foreach (bool direct in new[] { true, false })
        {
            output.WriteLine($"direct={direct}: executor 1x32 {Executor(path, direct, 1, 32):F0} IOPS, 2x16 {Executor(path, direct, 2, 16):F0} IOPS; " +
                $"pwrite pool 2 {Pool(path, direct, 2):F0}, 4 {Pool(path, direct, 4):F0}, 32 {Pool(path, direct, 32):F0} IOPS");
        }
    }

    /// <summary>Writes the whole file (written extents, as fio lays a file out) so every measured write is an overwrite.</summary>
    private static void FillFile(string path)
    {
        using SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadWrite);
        byte[] chunk = new byte[1 << 20];
        for (long offset = 0; offset < FileSize; offset += chunk.Length)
        {
            FileDescriptor.PWriteAll(fd, chunk, offset);
        }

        FileDescriptor.DataSync(fd);
    }

    private static double Executor(string path, bool direct, int workers, int depth)
    {
        using FileBackend backend = new(new FileBackendOptions { Path = path, DirectIo = direct });
        Runner[] runners = [.. Enumerable.Range(0, workers).Select(w => new Runner(backend, depth, (ulong)(w + 1) * 0x9E3779B97F4A7C15UL))];
        Thread[] threads = [.. runners.Select(r => new Thread(r.Run))];
        Array.ForEach(threads, t => t.Start());
        double iops = Sample(() => runners.Sum(r => Volatile.Read(ref r.Count)));
        Array.ForEach(runners, r => r.Stop = true);
        Array.ForEach(threads, t => t.Join());
        return iops;
    }

    private static double Pool(string path, bool direct, int threads)
    {
        using SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadWrite | (direct ? OpenFlags.Direct : 0));
        long[] counts = new long[threads * 16]; // one cache line apart
        bool stop = false;
        Thread[] pool = [.. Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            using AlignedBuffer buffer = new(Block);
            ulong x = (ulong)(t + 1) * 0x9E3779B97F4A7C15UL;
            while (!Volatile.Read(ref stop))
            {
                FileDescriptor.PWrite(fd, buffer.Span, (long)(Next(ref x) % (FileSize / Block)) * Block);
                counts[t * 16]++;
            }
        }))];
        Array.ForEach(pool, t => t.Start());
        double iops = Sample(() => Enumerable.Range(0, threads).Sum(t => Volatile.Read(ref counts[t * 16])));
        Volatile.Write(ref stop, true);
        Array.ForEach(pool, t => t.Join());
        return iops;
    }

    private static double Sample(Func<long> completed)
    {
        Thread.Sleep(Warmup);
        long start = completed();
        Stopwatch sw = Stopwatch.StartNew();
        Thread.Sleep(Window);
        return (completed() - start) / sw.Elapsed.TotalSeconds;
    }

    private static ulong Next(ref ulong x)
    {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    }

    /// <summary>One worker: keeps <c>depth</c> writes in flight, restarting each from its completion.</summary>
    private sealed class Runner(FileBackend backend, int depth, ulong seed) : IBackendCompletion, IRequestCompletion
    {
        private ulong _x = seed;
        private IBackendExecutor? _executor;
        private int _inFlight;
        public long Count;
        public volatile bool Stop;

        public unsafe void Run()
        {
            using IBackendExecutor executor = backend.CreateExecutor(this);
            _executor = executor;
            AlignedBuffer[] buffers = [.. Enumerable.Range(0, depth).Select(_ => new AlignedBuffer(Block))];
            for (int i = 0; i < depth; i++)
            {
                Issue(new BlockRequest(0, i, this), (nint)buffers[i].Pointer);
            }

            while (_inFlight > 0)
            {
                executor.Poll(block: true);
            }

            Array.ForEach(buffers, b => b.Dispose());
        }

        public void Landed(BlockRequest request, int result)
        {
            Assert.Equal(Block, result);
            _inFlight--;
            Count++;
            if (!Stop)
            {
                Issue(request, request.Buffer.Address);
            }
        }

        public void Complete(BlockRequest request, int result)
        {
        }

        private void Issue(BlockRequest r, nint buffer)
        {
            r.Prepare(BlockOp.Write, RequestFlags.None, Next(ref _x) % (FileSize / Block) * (Block / BlockRequest.SectorSize), Block / BlockRequest.SectorSize, RequestBuffer.Memory(buffer, Block));
            _inFlight++;
            _executor!.Start(r);
        }
    }
}
