using System.Diagnostics;
using System.Runtime.InteropServices;
using LoopOrder.Interop;
using LoopOrder.Interop.Uring;
using LoopOrder.Queues.Backends;
using LoopOrder.Queues.Requests;

namespace LoopOrder.Queues.Tests.Backends;

/// <summary>The file backend's executor, driven directly: Start, then Poll(block) until every result is in.</summary>
public sealed class FileExecutorTests
{
    private const long MiB = 1024 * 1024;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Writes_land_at_their_offsets_and_read_back_including_the_last_sector(bool directIo)
    {
        using FileTestDir dir = new();
        const long size = 8 * MiB;
        string path = dir.Create("disk", size);
        using FileHarness h = new(new FileBackendOptions { Path = path, DirectIo = directIo });
        ulong lastSector = (size / BlockRequest.SectorSize) - 1;
        ulong step = Math.Max(1, (ulong)h.Backend.DirectIoAlignment / BlockRequest.SectorSize);
        ulong lastAligned = (lastSector / step) * step;

        // Offsets chosen to catch an off-by-one either way: the first sectors, an odd place
        // straddling 4 KiB, a larger run, and the very end; in units of the direct-I/O step.
        (ulong Sector, uint Count)[] places =
        [
            (0, 1), (1, 1), (7, 2), (9, 16), (1001, 8),
            ((lastAligned / step) - 16, 16), (lastAligned / step, 1),
        ];
        var requests = new List<(BlockRequest Request, AlignedBuffer Buffer, byte Seed)>();
        for (int i = 0; i < places.Length; i++)
        {
            uint count = places[i].Count * (uint)step;
            AlignedBuffer buffer = new((nuint)(count * BlockRequest.SectorSize));
            byte seed = (byte)(17 * (i + 1));
            FileHarness.Fill(buffer.Span, seed);
            requests.Add((h.Request(BlockOp.Write, places[i].Sector * step, count, buffer), buffer, seed));
        }

        Assert.Equal(lastSector, requests[^1].Request.StartSector + requests[^1].Request.SectorCount - 1);
        int[] results = h.RunAll([.. requests.Select(r => r.Request)]);
        for (int i = 0; i < results.Length; i++)
        {
            Assert.Equal(requests[i].Request.ByteCount, results[i]);
        }

        foreach ((BlockRequest w, AlignedBuffer buffer, byte seed) in requests)
        {
            using AlignedBuffer back = new((nuint)w.ByteCount);
            BlockRequest read = h.Request(BlockOp.Read, w.StartSector, w.SectorCount, back);
            Assert.Equal(w.ByteCount, h.Run(read));
            Assert.True(back.Span.SequenceEqual(buffer.Span), $"read-back differs at sector {w.StartSector}");

            // And the bytes are in the file itself, at that offset (not only somewhere we read back from).
            Assert.True(FileHarness.ReadFile(path, w.ByteOffset, w.ByteCount).AsSpan().SequenceEqual(buffer.Span), $"file differs at sector {w.StartSector}");
            buffer.Dispose();
        }

        Assert.Equal(size, new FileInfo(path).Length);
    }

    [Fact]
    public void Fua_write_is_submitted_with_RWF_DSYNC_and_a_plain_write_without()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new();
        var writeFlags = new List<uint>();
        hooks.Prepared = (op, flags, _, _, _) =>
        {
            if (op == IoUringOp.Write)
            {
                writeFlags.Add(flags);
            }
        };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        using AlignedBuffer buffer = new(4096);
        FileHarness.Fill(buffer.Span, 3);

        Assert.Equal(4096, h.Run(h.Request(BlockOp.Write, 8, 8, buffer, RequestFlags.Fua)));
        Assert.Equal(4096, h.Run(h.Request(BlockOp.Write, 16, 8, buffer)));

        Assert.Equal([RwFlags.DSync, 0u], writeFlags);
        Assert.True(FileHarness.ReadFile(path, 8 * 512, 4096).AsSpan().SequenceEqual(buffer.Span));
    }

    [Fact]
    public void Flush_is_an_fdatasync_and_returns_0()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new();
        var syncs = new List<uint>();
        hooks.Prepared = (op, flags, _, _, _) =>
        {
            if (op == IoUringOp.Fsync)
            {
                syncs.Add(flags);
            }
        };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);

        Assert.Equal(0, h.Run(h.Request(BlockOp.Flush, 0, 0, null)));
        Assert.Equal([FsyncFlags.DataSync], syncs);
    }

    [Fact]
    public void Discard_punches_a_hole_reads_back_zeros_and_frees_blocks()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 4 * MiB);
        FileBackendHooks hooks = new();
        var modes = new List<int>();
        hooks.Prepared = (op, _, mode, _, _) =>
        {
            if (op == IoUringOp.Fallocate)
            {
                modes.Add(mode);
            }
        };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        h.WriteAndSync(0, (int)(2 * MiB), 9);
        long before = h.Backend.AllocatedBlocks();

        Assert.Equal(0, h.Run(h.Request(BlockOp.Discard, 512, 2048, null))); // 256 KiB .. 1.25 MiB

        long after = h.Backend.AllocatedBlocks();
        Assert.True(before - after >= 2048 * 9 / 10, $"st_blocks {before} -> {after}: the hole did not free the range");
        Assert.Equal([FallocFlags.PunchHole | FallocFlags.KeepSize], modes);
        Assert.True(h.ReadBack(512, 2048).All(b => b == 0));
        Assert.True(h.ReadBack(0, 512).AsSpan().SequenceEqual(FileHarness.Pattern(0, 512 * 512, 9)), "bytes before the hole changed");
        Assert.True(h.ReadBack(2560, 512).AsSpan().SequenceEqual(FileHarness.Pattern(2560 * 512, 512 * 512, 9)), "bytes after the hole changed");
        Assert.Equal(4 * MiB, new FileInfo(path).Length);
    }

    [Fact]
    public void Write_zeroes_with_NOUNMAP_keeps_blocks_allocated_and_reads_zeros()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 4 * MiB);
        FileBackendHooks hooks = new();
        var modes = new List<int>();
        hooks.Prepared = (op, _, mode, _, _) =>
        {
            if (op == IoUringOp.Fallocate)
            {
                modes.Add(mode);
            }
        };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        h.WriteAndSync(0, (int)(2 * MiB), 5);
        long before = h.Backend.AllocatedBlocks();

        // NOUNMAP is bit 15 of op_flags itself (RequestFlags carries the kernel's unshifted bits).
        Assert.Equal(1u << 15, (uint)RequestFlags.NoUnmap);
        Assert.Equal(0, h.Run(h.Request(BlockOp.WriteZeroes, 512, 2048, null, RequestFlags.NoUnmap)));

        Assert.True(h.Backend.AllocatedBlocks() >= before, "NOUNMAP write-zeroes deallocated blocks");
        Assert.Equal([FallocFlags.ZeroRange | FallocFlags.KeepSize], modes);
        Assert.True(h.ReadBack(512, 2048).All(b => b == 0));
        Assert.True(FileHarness.ReadFile(path, 512 * 512, 2048 * 512).All(b => b == 0));
    }

    [Fact]
    public void Write_zeroes_without_NOUNMAP_punches()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 4 * MiB);
        FileBackendHooks hooks = new();
        var modes = new List<int>();
        hooks.Prepared = (op, _, mode, _, _) =>
        {
            if (op == IoUringOp.Fallocate)
            {
                modes.Add(mode);
            }
        };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        h.WriteAndSync(0, (int)(2 * MiB), 6);
        long before = h.Backend.AllocatedBlocks();

        Assert.Equal(0, h.Run(h.Request(BlockOp.WriteZeroes, 512, 2048, null)));

        Assert.True(before - h.Backend.AllocatedBlocks() >= 2048 * 9 / 10, "write-zeroes without NOUNMAP kept the blocks");
        Assert.Equal([FallocFlags.PunchHole | FallocFlags.KeepSize], modes);
        Assert.True(h.ReadBack(512, 2048).All(b => b == 0));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Write_zeroes_falls_back_to_writing_zeros_when_zero_range_is_refused(bool directIo)
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 4 * MiB);
        FileBackendHooks hooks = new();
        int fallocates = 0;
        long zeroed = 0;
        hooks.Prepared = (op, _, _, _, length) =>
        {
            if (op == IoUringOp.Fallocate)
            {
                fallocates++;
            }
            else if (op == IoUringOp.Write)
            {
                zeroed += length;
            }
        };
        hooks.CompletionFilter = (op, result) => op == IoUringOp.Fallocate ? Errno.EOPNOTSUPP.ToResult() : result;
        using FileHarness h = new(new FileBackendOptions { Path = path, DirectIo = directIo }, hooks);
        h.WriteAndSync(0, (int)(2 * MiB), 7);
        zeroed = 0;

        // 640 KiB: more than one zero chunk, so the fallback loops.
        Assert.Equal(0, h.Run(h.Request(BlockOp.WriteZeroes, 256, 1280, null, RequestFlags.NoUnmap)));
        Assert.Equal(1, fallocates);
        Assert.Equal(1280 * 512, zeroed);
        Assert.True(h.ReadBack(256, 1280).All(b => b == 0));
        Assert.True(h.ReadBack(0, 256).AsSpan().SequenceEqual(FileHarness.Pattern(0, 256 * 512, 7)));

        // Remembered: the next one goes straight to writing zeros.
        Assert.Equal(0, h.Run(h.Request(BlockOp.WriteZeroes, 2048, 8, null, RequestFlags.NoUnmap)));
        Assert.Equal(1, fallocates);
    }

    [Theory]
    [InlineData(false, false, 1000)]
    [InlineData(false, true, 1000)]
    [InlineData(false, false, 4096)]
    [InlineData(true, true, 4096)]
    public void Short_transfers_resume_from_progress(bool directIo, bool ringWrites, int maxBytes)
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 4 * MiB);
        FileBackendHooks hooks = new() { MaxBytesPerSubmit = maxBytes, RingBufferedWrites = ringWrites };
        var offsets = new List<long>();
        hooks.Prepared = (op, _, _, offset, _) =>
        {
            if (op == IoUringOp.Write)
            {
                offsets.Add(offset);
            }
        };
        using FileHarness h = new(new FileBackendOptions { Path = path, DirectIo = directIo }, hooks);
        using AlignedBuffer buffer = new(64 * 1024);
        FileHarness.Fill(buffer.Span, 11);
        BlockRequest w = h.Request(BlockOp.Write, 64, 128, buffer);

        Assert.Equal(64 * 1024, h.Run(w));
        Assert.Equal((64 * 1024 + maxBytes - 1) / maxBytes, offsets.Count);
        Assert.Equal(Enumerable.Range(0, offsets.Count).Select(i => (64 * 512L) + ((long)i * maxBytes)), offsets);
        Assert.Equal(64 * 1024, w.Progress);

        using AlignedBuffer back = new(64 * 1024);
        Assert.Equal(64 * 1024, h.Run(h.Request(BlockOp.Read, 64, 128, back)));
        Assert.True(back.Span.SequenceEqual(buffer.Span));
        Assert.True(FileHarness.ReadFile(path, 64 * 512, 64 * 1024).AsSpan().SequenceEqual(buffer.Span));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EINTR_and_EAGAIN_are_resubmitted(bool ringWrites)
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new() { RingBufferedWrites = ringWrites };
        int writes = 0;
        int reads = 0;
        hooks.CompletionFilter = (op, result) => op switch
        {
            IoUringOp.Write when writes++ == 0 => Errno.EINTR.ToResult(),
            IoUringOp.Read when reads++ == 0 => Errno.EAGAIN.ToResult(),
            _ => result,
        };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        using AlignedBuffer buffer = new(4096);
        FileHarness.Fill(buffer.Span, 12);

        Assert.Equal(4096, h.Run(h.Request(BlockOp.Write, 0, 8, buffer)));
        using AlignedBuffer back = new(4096);
        Assert.Equal(4096, h.Run(h.Request(BlockOp.Read, 0, 8, back)));

        Assert.Equal(2, writes);
        Assert.Equal(2, reads);
        Assert.True(back.Span.SequenceEqual(buffer.Span));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_zero_byte_transfer_is_EIO(bool ringWrites)
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new() { RingBufferedWrites = ringWrites, CompletionFilter = (op, result) => op is IoUringOp.Write or IoUringOp.Read ? 0 : result };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        using AlignedBuffer buffer = new(4096);

        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, 0, 8, buffer)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Read, 0, 8, buffer)));
    }

    [Fact]
    public void Buffered_writes_run_inline_and_FUA_writes_through_the_ring()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        using FileHarness h = new(new FileBackendOptions { Path = path });
        using AlignedBuffer buffer = new(4096);
        FileHarness.Fill(buffer.Span, 30);
        FileExecutor executor = (FileExecutor)h.Executor;

        executor.Start(h.Request(BlockOp.Write, 0, 8, buffer));
        executor.Start(h.Request(BlockOp.Write, 8, 8, buffer, RequestFlags.Fua));
        Assert.Equal(1, executor.InFlight); // only the FUA write holds a ring slot
        Assert.Equal(1, executor.Queued);   // the plain one waits for the poll to write it

        Assert.Equal(4096, h.Run(h.Request(BlockOp.Write, 16, 8, buffer)));
        Assert.True(FileHarness.ReadFile(path, 0, 4096).AsSpan().SequenceEqual(buffer.Span));
    }

    [Fact]
    public void A_failed_fdatasync_is_latched_for_every_later_flush_on_every_executor()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new();
        int fsyncs = 0;
        hooks.CompletionFilter = (op, result) => op == IoUringOp.Fsync && fsyncs++ == 0 ? Errno.EIO.ToResult() : result;
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Flush, 0, 0, null))); // the injected failure

        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Flush, 0, 0, null)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Flush, 0, 0, null)));

        // Writes still work; flushes on a fresh executor of the same backend fail too.
        using AlignedBuffer buffer = new(4096);
        Assert.Equal(4096, h.Run(h.Request(BlockOp.Write, 0, 8, buffer)));
        using FileHarness second = h.SecondExecutor();
        Assert.Equal(Errno.EIO.ToResult(), second.Run(second.Request(BlockOp.Flush, 0, 0, null)));
    }

    [Fact]
    public void The_first_failed_fdatasync_itself_reports_EIO()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new() { CompletionFilter = (op, result) => op == IoUringOp.Fsync ? Errno.ENOSPC.ToResult() : result };
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);

        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Flush, 0, 0, null)));
    }

    [Fact]
    public void A_failed_FUA_write_latches_flush_failure()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new();
        int writes = 0;
        hooks.CompletionFilter = (op, result) => op == IoUringOp.Write && writes++ == 0 ? Errno.EIO.ToResult() : result;
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        using AlignedBuffer buffer = new(4096);

        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, 0, 8, buffer, RequestFlags.Fua)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Flush, 0, 0, null)));
    }

    [Fact]
    public void A_failed_plain_write_does_not_latch_flush()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        FileBackendHooks hooks = new();
        int writes = 0;
        hooks.CompletionFilter = (op, result) => op == IoUringOp.Write && writes++ == 0 ? Errno.EIO.ToResult() : result;
        using FileHarness h = new(new FileBackendOptions { Path = path }, hooks);
        using AlignedBuffer buffer = new(4096);

        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, 0, 8, buffer)));
        Assert.Equal(0, h.Run(h.Request(BlockOp.Flush, 0, 0, null)));
    }

    [Fact]
    public void Out_of_range_zero_length_unknown_op_and_short_buffer_fail_and_never_resize_the_file()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        using FileHarness h = new(new FileBackendOptions { Path = path });
        using AlignedBuffer buffer = new(8192);
        ulong sectors = MiB / 512;

        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.Write, sectors, 8, buffer)));
        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.Write, sectors - 4, 8, buffer)));
        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.Read, sectors - 4, 8, buffer)));
        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.Discard, sectors - 1, 2, null)));
        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.WriteZeroes, ulong.MaxValue - 1, 8, null)));
        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.Write, 0, 0, buffer)));
        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.Discard, 0, 0, null)));
        Assert.Equal(Errno.EOPNOTSUPP.ToResult(), h.Run(h.Request((BlockOp)4, 0, 8, buffer)));
        Assert.Equal(Errno.EOPNOTSUPP.ToResult(), h.Run(h.Request((BlockOp)200, 0, 8, buffer)));
        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(h.Request(BlockOp.Write, 0, 32, buffer))); // 16 KiB into an 8 KiB buffer

        Assert.Equal(MiB, new FileInfo(path).Length);
        Assert.Equal(8192, h.Run(h.Request(BlockOp.Write, sectors - 16, 16, buffer))); // the last 8 KiB is fine
        Assert.Equal(MiB, new FileInfo(path).Length);
    }

    [Fact]
    public void A_read_only_backend_refuses_writes_with_EROFS_and_still_reads()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB, seed: 4);
        using FileHarness h = new(new FileBackendOptions { Path = path, ReadOnly = true });
        using AlignedBuffer buffer = new(4096);

        Assert.True(h.Backend.IsReadOnly);
        Assert.Equal(Errno.EROFS.ToResult(), h.Run(h.Request(BlockOp.Write, 0, 8, buffer)));
        Assert.Equal(Errno.EROFS.ToResult(), h.Run(h.Request(BlockOp.Discard, 0, 8, null)));
        Assert.Equal(Errno.EROFS.ToResult(), h.Run(h.Request(BlockOp.WriteZeroes, 0, 8, null)));
        Assert.True(h.ReadBack(0, 8).AsSpan().SequenceEqual(FileHarness.Pattern(0, 4096, 4)));
    }

    [Fact]
    public unsafe void Direct_io_refuses_an_unaligned_buffer_with_EINVAL()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB, seed: 2);
        using FileHarness h = new(new FileBackendOptions { Path = path, DirectIo = true });
        using AlignedBuffer buffer = new(8192);
        BlockRequest r = new(0, 0, h);
        r.Prepare(BlockOp.Write, RequestFlags.None, 0, 8, RequestBuffer.Memory((nint)buffer.Pointer + 1, 8191));

        Assert.Equal(Errno.EINVAL.ToResult(), h.Run(r));
        Assert.True(FileHarness.ReadFile(path, 0, 4096).AsSpan().SequenceEqual(FileHarness.Pattern(0, 4096, 2)));
    }

    [Fact]
    public void A_read_reaching_the_cut_of_a_truncated_file_fails_the_device_closed_and_the_file_is_never_regrown()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB, seed: 8);
        using FileHarness h = new(new FileBackendOptions { Path = path });
        var seen = new List<long>();
        h.Backend.Truncated = seen.Add;
        FileHarness.Truncate(path, MiB / 2);

        // Nothing has looked past the cut yet: a read below it is served.
        using AlignedBuffer buffer = new(4096);
        Assert.Equal(4096, h.Run(h.Request(BlockOp.Read, 8, 8, buffer)));
        Assert.False(h.Backend.IsTruncated);

        ulong beyond = (MiB / 2 / 512) + 64;
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Read, beyond, 8, buffer)));
        Assert.True(h.Backend.IsTruncated);
        Assert.Equal([MiB / 2], seen);

        // Closed: every op fails, below the cut too, and nothing reaches the file.
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, beyond, 8, buffer)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, beyond, 8, buffer, RequestFlags.Fua)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, (MiB / 512) - 8, 8, buffer)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.WriteZeroes, beyond, 8, null, RequestFlags.NoUnmap)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Discard, 0, 8, null)));
        FileHarness.Fill(buffer.Span, 99);
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, 8, 8, buffer)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Read, 8, 8, buffer)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Flush, 0, 0, null)));

        Assert.Equal(MiB / 2, new FileInfo(path).Length);
        Assert.True(FileHarness.ReadFile(path, 0, (int)(MiB / 2)).AsSpan().SequenceEqual(FileHarness.Pattern(0, (int)(MiB / 2), 8)));
        Assert.Equal([MiB / 2], seen); // reported once
    }

    [Fact]
    public void A_write_after_the_size_recheck_interval_sees_the_cut_without_a_read_first()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        using FileHarness h = new(new FileBackendOptions { Path = path });
        using AlignedBuffer buffer = new(4096);
        Assert.Equal(4096, h.Run(h.Request(BlockOp.Write, 0, 8, buffer)));
        FileHarness.Truncate(path, MiB / 2);

        // Past the recheck interval (1 ms) the next write-class op re-reads the size; the sleep
        // only guarantees that the interval has passed, it measures nothing.
        Thread.Sleep(TimeSpan.FromTicks(TruncationGuard.RecheckInterval * TimeSpan.TicksPerSecond / Stopwatch.Frequency * 5));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, (MiB / 512) - 8, 8, buffer)));
        Assert.True(h.Backend.IsTruncated);
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.WriteZeroes, (MiB / 512) - 8, 8, null, RequestFlags.NoUnmap)));
        Assert.Equal(Errno.EIO.ToResult(), h.Run(h.Request(BlockOp.Write, 0, 8, buffer)));
        Assert.Equal(MiB / 2, new FileInfo(path).Length);
    }

    [Fact]
    public void A_file_cut_only_beyond_the_served_prefix_is_not_a_truncation()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 2 * MiB);
        using FileHarness h = new(new FileBackendOptions { Path = path, Size = MiB });
        using AlignedBuffer buffer = new(4096);
        FileHarness.Truncate(path, MiB + 4096);

        Thread.Sleep(TimeSpan.FromTicks(TruncationGuard.RecheckInterval * TimeSpan.TicksPerSecond / Stopwatch.Frequency * 5));
        Assert.Equal(4096, h.Run(h.Request(BlockOp.Write, (MiB / 512) - 8, 8, buffer)));
        Assert.Equal(4096, h.Run(h.Request(BlockOp.Read, (MiB / 512) - 8, 8, buffer)));
        Assert.False(h.Backend.IsTruncated);
        Assert.Equal(MiB + 4096, new FileInfo(path).Length);
    }

    [Fact]
    public void More_requests_than_ring_slots_wait_in_the_overflow_queue_and_all_land()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 4 * MiB);
        FileBackendHooks hooks = new() { MaxBytesPerSubmit = 1536 }; // resubmissions while the ring is full
        using FileHarness h = new(new FileBackendOptions { Path = path, RingEntries = 4 }, hooks);
        const int count = 64;
        var buffers = new AlignedBuffer[count];
        var writes = new BlockRequest[count];
        for (int i = 0; i < count; i++)
        {
            buffers[i] = new AlignedBuffer(4096);
            FileHarness.Fill(buffers[i].Span, (byte)i);
            writes[i] = h.Request(BlockOp.Write, (ulong)i * 16, 8, buffers[i], i % 5 == 0 ? RequestFlags.Fua : RequestFlags.None);
        }

        Assert.All(h.RunAll(writes), r => Assert.Equal(4096, r));
        for (int i = 0; i < count; i++)
        {
            Assert.True(FileHarness.ReadFile(path, i * 16 * 512L, 4096).AsSpan().SequenceEqual(buffers[i].Span), $"write {i}");
            buffers[i].Dispose();
        }
    }

    [Fact]
    public void Wake_makes_a_blocked_poll_return_and_a_wake_before_poll_is_not_lost()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        using FileBackend backend = new(new FileBackendOptions { Path = path });
        FileHarness.Recorder recorder = new();
        using IBackendExecutor executor = backend.CreateExecutor(recorder);

        // Before: the next blocking poll returns at once.
        executor.Wake();
        executor.Poll(block: true);

        // During: another thread wakes the sleeping poller (nothing in flight, so only the wake can end it).
        using Timer timer = new(_ => executor.Wake(), null, 50, 50);
        Stopwatch sw = Stopwatch.StartNew();
        executor.Poll(block: true);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30));
        Assert.Empty(recorder.Results);
    }

    [Fact]
    public void An_executor_created_on_one_thread_runs_on_another()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", MiB);
        using FileHarness h = new(new FileBackendOptions { Path = path });
        int result = 0;
        Exception? failure = null;
        Thread worker = new(() =>
        {
            try
            {
                using AlignedBuffer buffer = new(4096);
                FileHarness.Fill(buffer.Span, 21);
                result = h.Run(h.Request(BlockOp.Write, 0, 8, buffer));
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        worker.Start();
        worker.Join();

        Assert.Null(failure);
        Assert.Equal(4096, result);
        Assert.True(FileHarness.ReadFile(path, 0, 4096).AsSpan().SequenceEqual(FileHarness.Pattern(0, 4096, 21)));
    }

    [Fact]
    public void Executors_on_two_threads_write_concurrently()
    {
        using FileTestDir dir = new();
        string path = dir.Create("disk", 8 * MiB);
        using FileBackend backend = new(new FileBackendOptions { Path = path });
        Exception? failure = null;
        Thread[] threads = new Thread[2];
        for (int t = 0; t < threads.Length; t++)
        {
            int half = t;
            threads[t] = new Thread(() =>
            {
                try
                {
                    using FileHarness h = FileHarness.On(backend);
                    var buffers = new List<AlignedBuffer>();
                    var writes = new List<BlockRequest>();
                    for (int i = 0; i < 200; i++)
                    {
                        AlignedBuffer b = new(4096);
                        FileHarness.Fill(b.Span, (byte)(i + (half * 100)));
                        buffers.Add(b);
                        writes.Add(h.Request(BlockOp.Write, (ulong)((half * 8192) + (i * 8)), 8, b));
                    }

                    Assert.All(h.RunAll([.. writes]), r => Assert.Equal(4096, r));
                    buffers.ForEach(b => b.Dispose());
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            threads[t].Start();
        }

        foreach (Thread t in threads)
        {
            t.Join();
        }

        Assert.Null(failure);
        for (int half = 0; half < 2; half++)
        {
            for (int i = 0; i < 200; i += 37)
            {
                long offset = ((half * 8192) + (i * 8)) * 512L;
                Assert.True(FileHarness.ReadFile(path, offset, 4096).AsSpan().SequenceEqual(FileHarness.Pattern(0, 4096, (byte)(i + (half * 100)))));
            }
        }
    }
}

/// <summary>A scratch directory on a real filesystem (/var/tmp: ext4 here, where /tmp may be tmpfs), removed on dispose.</summary>
internal sealed class FileTestDir : IDisposable
{
    public FileTestDir()
    {
        Root = Path.Combine("/var/tmp", "looporder-file-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    /// <summary>Creates a file of <paramref name="size"/> bytes: sparse, or filled with <see cref="FileHarness.Pattern"/> of <paramref name="seed"/>.</summary>
    public string Create(string name, long size, byte? seed = null)
    {
        string path = Path.Combine(Root, name);
        using FileStream f = new(path, FileMode.CreateNew, FileAccess.Write);
        if (seed is byte s)
        {
            f.Write(FileHarness.Pattern(0, (int)size, s));
        }
        else
        {
            f.SetLength(size);
        }

        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover scratch directory is harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>A backend plus one executor and a recorder of results, driven on the calling thread.</summary>
internal sealed class FileHarness : IDisposable, IRequestCompletion
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly bool _ownsBackend;
    private readonly Recorder _recorder = new();
    private int _tags;

    public FileHarness(FileBackendOptions options, FileBackendHooks? hooks = null)
        : this(new FileBackend(options), ownsBackend: true, hooks)
    {
    }

    private FileHarness(FileBackend backend, bool ownsBackend, FileBackendHooks? hooks)
    {
        Backend = backend;
        _ownsBackend = ownsBackend;
        if (hooks is not null)
        {
            backend.Hooks = hooks;
        }

        Executor = backend.CreateExecutor(_recorder);
    }

    public FileBackend Backend { get; }

    public IBackendExecutor Executor { get; }

    public static FileHarness On(FileBackend backend) => new(backend, ownsBackend: false, null);

    public FileHarness SecondExecutor() => new(Backend, ownsBackend: false, null);

    public static byte[] Pattern(long offset, int length, byte seed)
    {
        byte[] bytes = new byte[length];
        Fill(bytes, seed, offset);
        return bytes;
    }

    /// <summary>A byte pattern that depends on the absolute position, so misplaced data never matches.</summary>
    public static void Fill(Span<byte> span, byte seed, long offset = 0)
    {
        for (int i = 0; i < span.Length; i++)
        {
            long p = offset + i;
            span[i] = (byte)((p * 31) + (p >> 9) + seed);
        }
    }

    /// <summary>
    /// Reads the file's bytes with a plain open and pread: FileStream would take a shared flock
    /// (.NET's FileShare emulation on Unix), which the backend's exclusive lock refuses.
    /// </summary>
    public static byte[] ReadFile(string path, long offset, int length)
    {
        using SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadOnly);
        byte[] bytes = new byte[length];
        FileDescriptor.PReadExactly(fd, bytes, offset);
        return bytes;
    }

    /// <summary>Truncates the file behind the backend's back (no flock, as a careless admin's tool would).</summary>
    public static void Truncate(string path, long length)
    {
        using SafeFileDescriptor fd = FileDescriptor.Open(path, OpenFlags.ReadWrite);
        FileDescriptor.Truncate(fd, length);
    }

    public unsafe BlockRequest Request(BlockOp op, ulong sector, uint count, AlignedBuffer? buffer, RequestFlags flags = RequestFlags.None)
    {
        BlockRequest r = new(0, _tags++, this);
        r.Prepare(op, flags, sector, count, buffer is null ? RequestBuffer.None : RequestBuffer.Memory((nint)buffer.Pointer, (int)buffer.Length));
        return r;
    }

    public int Run(BlockRequest r) => RunAll(r)[0];

    /// <summary>Starts all, then polls (blocking) until each has a result; a watchdog wake keeps a lost completion from hanging the test.</summary>
    public int[] RunAll(params BlockRequest[] requests)
    {
        foreach (BlockRequest r in requests)
        {
            _recorder.Results.Remove(r);
            Executor.Start(r);
        }

        using Timer watchdog = new(_ => Executor.Wake(), null, 200, 200);
        Stopwatch sw = Stopwatch.StartNew();
        while (requests.Any(r => !_recorder.Results.ContainsKey(r)))
        {
            Assert.True(sw.Elapsed < Deadline, "requests did not complete");
            Executor.Poll(block: true);
        }

        return [.. requests.Select(r => _recorder.Results[r])];
    }

    /// <summary>Writes the position pattern over [offset, offset+length) and flushes, so the blocks are allocated.</summary>
    public void WriteAndSync(long offset, int length, byte seed)
    {
        using AlignedBuffer buffer = new((nuint)length);
        Fill(buffer.Span, seed, offset);
        Assert.Equal(length, Run(Request(BlockOp.Write, (ulong)(offset / 512), (uint)(length / 512), buffer)));
        Assert.Equal(0, Run(Request(BlockOp.Flush, 0, 0, null)));
    }

    public byte[] ReadBack(ulong sector, uint count)
    {
        using AlignedBuffer buffer = new((nuint)(count * 512));
        Assert.Equal((int)(count * 512), Run(Request(BlockOp.Read, sector, count, buffer)));
        return buffer.Span.ToArray();
    }

    public void Complete(BlockRequest request, int result)
    {
        // Not used: the executor reports to the recorder; requests need some completion target.
    }

    public void Dispose()
    {
        Executor.Dispose();
        if (_ownsBackend)
        {
            Backend.Dispose();
        }
    }

    /// <summary>Records each request's result.</summary>
    internal sealed class Recorder : IBackendCompletion
    {
        public Dictionary<BlockRequest, int> Results { get; } = [];

        public void Landed(BlockRequest request, int result)
        {
            Assert.False(Results.ContainsKey(request), $"{request} reported twice");
            Results[request] = result;
        }
    }
}
