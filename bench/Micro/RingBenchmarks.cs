using BenchmarkDotNet.Attributes;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;

namespace LoopOrder.Bench.Micro;

/// <summary>
/// The io_uring wrapper's submit/reap cost, per operation: Batch SQEs prepared, published and
/// submitted in one io_uring_enter that also waits for all of them, then reaped. NOP measures the
/// ring itself (SQE prep + enter + CQE reap); a 4 KiB buffered write into a file in /tmp adds the
/// kernel's write path. Batch 1 versus 32 shows what batching submissions and completions buys
/// (the per-syscall cost spread over the batch). The ring is made with the flags the socket
/// workers ask for (SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL | TASKRUN_FLAG, with fallback).
/// </summary>
[MemoryDiagnoser]
public unsafe class RingBenchmarks
{
    private const int BlockBytes = 4096;

    private IoUring _ring = null!;
    private AlignedBuffer _buffer = null!;
    private FileStream _file = null!;
    private int _fd;
    private string _path = null!;

    /// <summary>Operations per io_uring_enter.</summary>
    [Params(1, 32)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ring = IoUring.CreateWithFallback(
            64,
            IoUringSetupFlags.None,
            IoUringSetupFlags.SubmitAll | IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun | IoUringSetupFlags.TaskrunFlag);
        _buffer = new AlignedBuffer((nuint)BlockBytes);
        _path = Path.Combine(Path.GetTempPath(), $"loop-order-ring-bench-{Environment.ProcessId}");
        _file = new FileStream(_path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        _file.SetLength(32L * BlockBytes * 64);
        _fd = (int)_file.SafeFileHandle.DangerousGetHandle();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ring.Dispose();
        _buffer.Dispose();
        _file.Dispose();
        File.Delete(_path);
    }

    /// <summary>Batch NOPs: prep, one enter (submit + wait for all), reap.</summary>
    [Benchmark(OperationsPerInvoke = 32)]
    public int NopSubmitReap()
    {
        int reaped = 0;
        for (int round = 0; round < 32 / Batch; round++)
        {
            for (int i = 0; i < Batch; i++)
            {
                _ring.TryGetSqe(out io_uring_sqe* sqe);
                UringPrep.Nop(sqe, (ulong)i);
            }

            reaped += SubmitAndReap();
        }

        return reaped;
    }

    /// <summary>Batch 4 KiB buffered writes at distinct offsets: prep, one enter, reap.</summary>
    [Benchmark(OperationsPerInvoke = 32)]
    public int Write4KSubmitReap()
    {
        int reaped = 0;
        byte* buffer = (byte*)_buffer.DangerousGetHandle();
        for (int round = 0; round < 32 / Batch; round++)
        {
            for (int i = 0; i < Batch; i++)
            {
                _ring.TryGetSqe(out io_uring_sqe* sqe);
                UringPrep.Write(sqe, _fd, buffer, BlockBytes, (ulong)((round * Batch) + i) * BlockBytes, (ulong)i);
            }

            reaped += SubmitAndReap();
        }

        return reaped;
    }

    private int SubmitAndReap()
    {
        int want = Batch, got = 0;
        Span<io_uring_cqe> cqes = stackalloc io_uring_cqe[32];
        while (got < want)
        {
            _ring.SubmitAndWait((uint)(want - got));
            got += _ring.Reap(cqes);
        }

        return got;
    }
}
