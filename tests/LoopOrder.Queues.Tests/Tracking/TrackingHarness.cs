using System.Runtime.InteropServices;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Dispatch;
using LoopOrder.Queues.Ordering;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Tracking;
using LoopOrder.Verification.Backends;
using LoopOrder.Verification.Tracking;

namespace LoopOrder.Queues.Tests.Tracking;

/// <summary>
/// A Sequencer with changed-block tracking (manual commits, metadata in a <see cref="MemoryTrackerStore"/>)
/// over a <see cref="ControlledBackend"/>, on one thread. <see cref="Log"/> interleaves the
/// metadata's writes and syncs with the backend's starts, so a test can read the order.
/// </summary>
internal sealed unsafe class TrackingHarness : IRequestCompletion, IDisposable
{
    public const long DeviceBytes = 1 << 20;
    public const int RegionSize = 64 * 1024;
    public const uint RegionSectors = RegionSize / 512;

    private readonly List<nint> _buffers = [];
    private int _nextTag;

    public TrackingHarness(MemoryTrackerStore? store = null, OrderingMode mode = OrderingMode.Drain)
    {
        Store = store ?? new MemoryTrackerStore();
        Store.Log = e => Log.Add(e);
        Backend = new ControlledBackend(DeviceBytes);
        Tracker = new ChangeTracker(Store, DeviceBytes, 512, new TrackerOptions { MetadataPath = "", RegionSize = RegionSize, ManualCommits = true });
        Log.Clear(); // the new file's first slot
        Sequencer = new Sequencer(mode, DeviceBytes,
            c => new GatedDispatcher(Tracker, new InlineDispatcher(new StartLog(Backend, Log), c), c));
    }

    public MemoryTrackerStore Store { get; }

    public ControlledBackend Backend { get; }

    public ChangeTracker Tracker { get; }

    public Sequencer Sequencer { get; }

    /// <summary>"write"/"sync"/"sync-failed" from the metadata, "start #seq" from the backend.</summary>
    public List<string> Log { get; } = [];

    public Dictionary<BlockRequest, int> Acks { get; } = [];

    /// <summary>Every request submitted, in order (so sequence n is at index n - 1).</summary>
    public List<BlockRequest> Submitted { get; } = [];

    public void Complete(BlockRequest request, int result) => Acks.Add(request, result);

    public BlockRequest Write(ulong start, uint count) => Submit(BlockOp.Write, start, count);

    public BlockRequest Submit(BlockOp op, ulong start, uint count)
    {
        int bytes = Math.Max(1, (int)count) * 512;
        nint buffer = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);
        _buffers.Add(buffer);
        new Span<byte>((void*)buffer, bytes).Fill(0x5A);
        var r = new BlockRequest(0, _nextTag++, this);
        r.Prepare(op, RequestFlags.None, start, count, op is BlockOp.Read or BlockOp.Write ? RequestBuffer.Memory(buffer, bytes) : RequestBuffer.None);
        Submitted.Add(r);
        Sequencer.Submit(r);
        return r;
    }

    public bool Started(BlockRequest r) => Log.Contains($"start #{r.Seq}");

    public void Dispose()
    {
        Sequencer.Dispose();
        Backend.Dispose();
        foreach (nint b in _buffers)
        {
            NativeMemory.AlignedFree((void*)b);
        }
    }

    /// <summary>Notes each operation the backend starts in the shared log.</summary>
    private sealed class StartLog(ControlledBackend inner, List<string> log) : IBackend
    {
        public long Length => inner.Length;

        public bool IsReadOnly => inner.IsReadOnly;

        public IBackendExecutor CreateExecutor(IBackendCompletion completion) =>
            new Executor(inner.CreateExecutor(completion), log);

        public void Dispose()
        {
        }

        private sealed class Executor(IBackendExecutor executor, List<string> log) : IBackendExecutor
        {
            public void Start(BlockRequest request)
            {
                log.Add($"start #{request.Seq}");
                executor.Start(request);
            }

            public void Poll(bool block) => executor.Poll(block);

            public void Wake() => executor.Wake();

            public void Dispose() => executor.Dispose();
        }
    }
}
