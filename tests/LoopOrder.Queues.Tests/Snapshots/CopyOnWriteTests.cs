using LoopOrder.Interop;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Engine;
using LoopOrder.Queues.Requests;
using LoopOrder.Queues.Snapshots;
using LoopOrder.Queues.Tests.Dispatch;

namespace LoopOrder.Queues.Tests.Snapshots;

/// <summary>
/// Copy-on-write snapshots through the whole engine (socket workers, the gate's copy thread) over
/// an in-memory device: each snapshot, read through its store over the live device, is the
/// device as it was at its barrier, however the device was overwritten since; the same holds
/// for a store reopened from disk (what a restarted daemon sees); a first touch waits for its
/// copy and a second does not; a torn tail is ignored.
/// </summary>
public sealed unsafe class CopyOnWriteTests : IDisposable
{
    private const int Chunk = 4096 * 4;
    private const int DeviceBytes = 1 << 20;
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    private readonly string _dir = Directory.CreateTempSubdirectory("loop-order-cow-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Every_snapshot_reads_as_the_device_did_at_its_barrier(int seed)
    {
        var random = new Random(seed);
        var memory = new MemoryBackend(DeviceBytes);
        var gate = new CopyOnWrite(new MemorySource(memory), DeviceBytes, Chunk);
        using var engine = BlockEngine.Create(memory, new EngineOptions { PinWorkers = false, CopyOnWrite = gate });
        using var buffers = new NativeBuffers();
        var completion = new CountingCompletion();
        var snapshots = new List<(CowStore Store, byte[] Image)>();
        int tag = 0;
        for (int round = 0; round < 6; round++)
        {
            // A burst of overlapping writes of 4 to 40 KiB, some across chunk boundaries, some discards.
            var burst = new List<BlockRequest>();
            for (int i = 0; i < 40; i++)
            {
                int pages = random.Next(1, 11);
                int page = random.Next(0, (DeviceBytes / 4096) - pages);
                nint buffer = buffers.Allocate(pages * 4096);
                random.NextBytes(new Span<byte>((void*)buffer, pages * 4096));
                var r = new BlockRequest(0, tag++, completion);
                BlockOp op = random.Next(8) == 0 ? BlockOp.Discard : BlockOp.Write;
                r.Prepare(op, RequestFlags.None, (ulong)page * 8, (uint)pages * 8, op == BlockOp.Write ? RequestBuffer.Memory(buffer, pages * 4096) : RequestBuffer.None);
                burst.Add(r);
            }

            completion.Reached.Reset();
            completion.Target = completion.Count + burst.Count;
            foreach (BlockRequest r in burst)
            {
                engine.Submit(r);
            }

            Assert.True(completion.Reached.Wait(HangLimit));
            Assert.All(burst, r => Assert.True(completion.Results[r] >= 0, $"{r} failed: {completion.Results[r]}"));

            byte[]? image = null;
            CowStore? store = null;
            engine.Snapshot(() =>
            {
                image = memory.Store.Bytes(0, DeviceBytes).ToArray();
                string path = Path.Combine(_dir, $"snap-{round}");
                store = CowStore.Create(FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive), path,
                    new CowStoreHeader($"s{round}", Chunk, DeviceBytes, 0, DateTimeOffset.UtcNow));
                gate.Add(store);
            }, HangLimit);
            snapshots.Add((store!, image!));

            if (round == 3)
            {
                // A snapshot deleted mid-way: the others are unaffected.
                Assert.True(gate.Remove(snapshots[1].Store));
                snapshots[1].Store.Dispose();
                snapshots.RemoveAt(1);
            }
        }

        // One more burst after the last snapshot, so every snapshot has overwrites to keep.
        completion.Reached.Reset();
        completion.Target = completion.Count + 1;
        nint all = buffers.Allocate(DeviceBytes);
        new Span<byte>((void*)all, DeviceBytes).Fill(0xEE);
        var everything = new BlockRequest(0, tag, completion);
        everything.Prepare(BlockOp.Write, RequestFlags.None, 0, DeviceBytes / 512, RequestBuffer.Memory(all, DeviceBytes));
        engine.Submit(everything);
        Assert.True(completion.Reached.Wait(HangLimit));
        Assert.True(engine.WaitForIdle(HangLimit));

        byte[] chunk = new byte[Chunk];
        foreach ((CowStore store, byte[] image) in snapshots)
        {
            Assert.Equal(DeviceBytes / Chunk, store.PreservedChunks); // the last write touched every chunk
            for (long c = 0; c < DeviceBytes / Chunk; c++)
            {
                gate.ReadSnapshot(store, c, chunk);
                Assert.True(image.AsSpan((int)(c * Chunk), Chunk).SequenceEqual(chunk), $"{store.Header.Name}: chunk {c} differs from the device at its barrier");
            }

            // What a restarted daemon finds on disk reads the same.
            using CowStore reopened = CowStore.Open(store.Path, writable: false);
            Assert.Equal(store.PreservedChunks, reopened.PreservedChunks);
            Assert.True(reopened.ReadChunk(3, chunk));
            Assert.True(image.AsSpan(3 * Chunk, Chunk).SequenceEqual(chunk));
        }

        Assert.True(gate.CopiedChunks >= snapshots.Count * (DeviceBytes / Chunk));
    }

    [Fact]
    public void A_first_touch_waits_for_its_copy_and_a_second_one_does_not()
    {
        var memory = new MemoryBackend(DeviceBytes);
        var gate = new CopyOnWrite(new MemorySource(memory), DeviceBytes, Chunk, manualRounds: true);
        using var engine = BlockEngine.Create(memory, new EngineOptions { PinWorkers = false, CopyOnWrite = gate });
        using var buffers = new NativeBuffers();
        var completion = new CountingCompletion();
        string path = Path.Combine(_dir, "s");
        using CowStore store = CowStore.Create(FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive), path,
            new CowStoreHeader("s", Chunk, DeviceBytes, 0, DateTimeOffset.UtcNow));
        engine.Snapshot(() => gate.Add(store), HangLimit);

        BlockRequest first = Write(buffers, completion, 0, 0x11);
        engine.Submit(first);
        Assert.False(engine.WaitForIdle(TimeSpan.FromMilliseconds(200)), "the first touch went on before its chunk was preserved");
        Assert.False(store.Holds(0));
        Assert.True(gate.RunCopy());
        Assert.True(engine.WaitForIdle(HangLimit));
        Assert.True(store.Holds(0));

        BlockRequest second = Write(buffers, completion, 1, 0x22); // the same 16 KiB chunk
        engine.Submit(second);
        Assert.True(engine.WaitForIdle(HangLimit));
        Assert.False(gate.RunCopy()); // nothing was held
        Assert.Equal(1, gate.HeldWrites);
        Assert.Equal(1, store.PreservedChunks);
    }

    [Fact]
    public void A_torn_tail_is_ignored_and_the_next_append_overwrites_it()
    {
        string path = Path.Combine(_dir, "torn");
        byte[] data = new byte[Chunk];
        using (CowStore store = CowStore.Create(FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive), path,
            new CowStoreHeader("torn", Chunk, DeviceBytes, 7, DateTimeOffset.UnixEpoch)))
        {
            for (int c = 0; c < 3; c++)
            {
                data.AsSpan().Fill((byte)(c + 1));
                store.Append(c, data);
            }

            store.Sync();
        }

        // The last record's data half written: its checksum fails.
        using (var f = new FileStream(path, FileMode.Open))
        {
            f.SetLength(f.Length - (Chunk / 2));
        }

        using (CowStore store = CowStore.Open(path))
        {
            Assert.Equal(2, store.PreservedChunks);
            Assert.True(store.Holds(1));
            Assert.False(store.Holds(2));
            Assert.Equal(("torn", 7L), (store.Header.Name, store.Header.Barrier));
            data.AsSpan().Fill(9);
            store.Append(5, data);
            store.Sync();
        }

        using (CowStore store = CowStore.Open(path))
        {
            Assert.Equal(3, store.PreservedChunks);
            Assert.True(store.ReadChunk(5, data));
            Assert.All(data, b => Assert.Equal(9, b));
            Assert.True(store.ReadChunk(0, data));
            Assert.All(data, b => Assert.Equal(1, b));
        }
    }

    [Fact]
    public void A_damaged_header_or_a_file_that_is_no_store_is_refused()
    {
        string path = Path.Combine(_dir, "bad");
        using (CowStore.Create(FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive), path,
            new CowStoreHeader("bad", Chunk, DeviceBytes, 0, DateTimeOffset.UnixEpoch)))
        {
        }

        byte[] bytes = File.ReadAllBytes(path);
        bytes[60] ^= 1; // inside the name field, under the checksum
        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidDataException>(() => CowStore.Open(path));
        File.WriteAllText(path, "not a store");
        Assert.Throws<InvalidDataException>(() => CowStore.Open(path));
    }

    [Fact]
    public void An_invalid_store_says_so_after_a_reopen()
    {
        string path = Path.Combine(_dir, "invalid");
        using (CowStore store = CowStore.Create(FileDescriptor.Open(path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Exclusive), path,
            new CowStoreHeader("x", Chunk, DeviceBytes, 0, DateTimeOffset.UnixEpoch)))
        {
            store.MarkInvalid("no space");
        }

        using CowStore back = CowStore.Open(path);
        Assert.True(back.Header.Invalid);
    }

    private static BlockRequest Write(NativeBuffers buffers, CountingCompletion completion, int page, byte fill)
    {
        nint buffer = buffers.Allocate(4096);
        new Span<byte>((void*)buffer, 4096).Fill(fill);
        var r = new BlockRequest(0, page, completion);
        r.Prepare(BlockOp.Write, RequestFlags.None, (ulong)page * 8, 8, RequestBuffer.Memory(buffer, 4096));
        return r;
    }

    /// <summary>The in-memory device as the gate's live source.</summary>
    private sealed class MemorySource(MemoryBackend memory) : ICowSource
    {
        public void Read(long offset, Span<byte> destination) => memory.Store.Bytes(offset, destination.Length).CopyTo(destination);

        public void Dispose()
        {
        }
    }
}
