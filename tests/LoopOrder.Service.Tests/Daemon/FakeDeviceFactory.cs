using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LoopOrder.Queues.Requests;
using LoopOrder.Service.Control;
using LoopOrder.Service.Daemon;
using LoopOrder.Ublk.Device;
using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Queue;
using Microsoft.Extensions.Logging;

namespace LoopOrder.Service.Tests.Daemon;

/// <summary>A kernel without the kernel: devices that exist as records here, for host tests of everything above ublk.</summary>
internal sealed class FakeDeviceFactory : IDeviceFactory
{
    private int _next;

    public bool IsAvailable { get; set; } = true;

    /// <summary>What GET_FEATURES reports: what 6.12.95 reports in the VM (bits 1-8: UBLK_F_ALL without zero copy) unless a test says otherwise.</summary>
    public UblkFeatures OfferedFeatures { get; set; } = (UblkFeatures)0x1FE;

    /// <summary>What the "kernel" has: id → state.</summary>
    public ConcurrentDictionary<uint, DeviceState> Kernel { get; } = new();

    public ConcurrentDictionary<uint, UblkDeviceOptions> Created { get; } = new();

    public ConcurrentBag<uint> Recovered { get; } = [];

    /// <summary>The flags every created device is granted (6.12's: no UPDATE_SIZE, no SAFE_STOP_DEV).</summary>
    public UblkFeatures Granted { get; set; } = UblkFeatures.CmdIoctlEncode | UblkFeatures.UserRecovery | UblkFeatures.UserRecoveryReissue;

    /// <summary>Devices TRY_STOP_DEV refuses (someone has them open).</summary>
    public ConcurrentDictionary<uint, bool> Open { get; } = new();

    /// <summary>Each device's capacity as UPDATE_SIZE last set it.</summary>
    public ConcurrentDictionary<uint, long> Resized { get; } = new();

    /// <summary>Each created device's request entry point: a test submits I/O as the kernel would.</summary>
    public ConcurrentDictionary<uint, Action<BlockRequest>> Submitters { get; } = new();

    public IDeviceHandle Create(UblkDeviceOptions options, Action<BlockRequest> submit, ILogger logger)
    {
        uint id = (uint)Interlocked.Increment(ref _next) - 1;
        while (Kernel.ContainsKey(id))
        {
            id = (uint)Interlocked.Increment(ref _next) - 1;
        }

        Kernel[id] = DeviceState.Live;
        Created[id] = options;
        Submitters[id] = submit;
        return new Handle(this, id, options.Queues, options.QueueDepth);
    }

    public IDeviceHandle Recover(uint id, UblkDeviceOptions options, Action<BlockRequest> submit, ILogger logger)
    {
        Assert.True(Kernel.ContainsKey(id), $"recovering device {id}, which the kernel does not have");
        Kernel[id] = DeviceState.Live;
        Recovered.Add(id);
        Submitters[id] = submit;
        return new Handle(this, id, options.Queues, options.QueueDepth);
    }

    public KernelDevice? Query(uint id) =>
        Kernel.TryGetValue(id, out DeviceState state) ? new KernelDevice(id, state, 999_999, 1, 128, 1 << 20, "UserRecovery") : null;

    public IReadOnlyList<KernelDevice> List() => [.. Kernel.Keys.Order().Select(id => Query(id)!)];

    public void Delete(uint id) => Kernel.TryRemove(id, out _);

    private sealed class Handle(FakeDeviceFactory factory, uint id, int queues, int depth) : IDeviceHandle
    {
        private readonly ManualResetEventSlim _ended = new(false);

        public uint Id => id;

        public string BlockDevicePath => $"/dev/ublkb{id}";

        public int Queues => queues;

        public int Depth => depth;

        public string Features => "UserRecovery, UserRecoveryReissue";

        public WaitHandle EndedHandle => _ended.WaitHandle;

        public IReadOnlyList<UblkQueueStatistics> QueueStatistics =>
            [.. Enumerable.Range(0, queues).Select(q => new UblkQueueStatistics(q, 0, 0, 0, 0, 0, 0, 0, 0, new long[LatencyHistogram.BucketCount]))];

        public void Stop(TimeSpan timeout) => _ended.Set();

        public UblkFeatures Granted => factory.Granted;

        public bool TryStop(TimeSpan timeout)
        {
            Assert.True(factory.Granted.HasFlag(UblkFeatures.SafeStopDev), "TRY_STOP_DEV sent to a device without SAFE_STOP_DEV");
            if (factory.Open.ContainsKey(id))
            {
                return false;
            }

            _ended.Set();
            return true;
        }

        public void Resize(long sizeBytes)
        {
            Assert.True(factory.Granted.HasFlag(UblkFeatures.UpdateSize), "UPDATE_SIZE sent to a device without it");
            factory.Resized[id] = sizeBytes;
        }

        public void Dispose()
        {
            _ended.Set();
            factory.Kernel.TryRemove(id, out _);
        }
    }

    /// <summary>One request to device <paramref name="id"/> as the kernel would send it, through its
    /// submitter; waits for it and returns its result (a read's data lands in <paramref name="data"/>),
    /// at byte <paramref name="offset"/> of the device.</summary>
    public unsafe int Io(uint id, BlockOp op, byte[] data, long offset = 0)
    {
        int bytes = Math.Max(data.Length, 4096);
        nint buffer = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        try
        {
            data.CopyTo(new Span<byte>((void*)buffer, bytes));
            var done = new Waiter();
            var r = new BlockRequest(0, 0, done);
            bool flush = op == BlockOp.Flush;
            r.Prepare(op, RequestFlags.None, flush ? 0ul : (ulong)(offset / 512), flush ? 0u : (uint)(data.Length / 512), flush ? RequestBuffer.None : RequestBuffer.Memory(buffer, bytes));
            Submitters[id](r);
            if (!done.Done.Wait(TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException($"{r} did not complete");
            }

            if (op == BlockOp.Read)
            {
                new Span<byte>((void*)buffer, data.Length).CopyTo(data);
            }

            return done.Result;
        }
        finally
        {
            NativeMemory.AlignedFree((void*)buffer);
        }
    }

    private sealed class Waiter : IRequestCompletion
    {
        public ManualResetEventSlim Done { get; } = new();

        public int Result { get; private set; }

        public void Complete(BlockRequest request, int result)
        {
            Result = result;
            Done.Set();
        }
    }
}
