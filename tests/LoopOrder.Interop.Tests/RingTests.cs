using System.Runtime.InteropServices;
using LoopOrder.Interop.Uring;

namespace LoopOrder.Interop.Tests;

public unsafe class RingTests
{
    private static io_uring_cqe SubmitAndTakeOne(IoUring ring)
    {
        ring.SubmitAndWait(1);
        Assert.True(ring.TryPeekCqe(out io_uring_cqe cqe));
        ring.AdvanceCq(1);
        return cqe;
    }

    private static io_uring_sqe* Sqe(IoUring ring)
    {
        Assert.True(ring.TryGetSqe(out io_uring_sqe* sqe));
        return sqe;
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void Nop_round_trip_returns_user_data()
    {
        using var ring = new IoUring(8);
        UringPrep.Nop(Sqe(ring), 0xDEADBEEF_12345678UL);
        Assert.Equal(1u, ring.SqPending);
        Assert.Equal(0u, ring.CqReady);
        Assert.Equal(1, ring.SubmitAndWait(1));
        Assert.Equal(0u, ring.SqPending);
        Assert.Equal(1u, ring.CqReady);
        Assert.True(ring.TryPeekCqe(out io_uring_cqe cqe));
        Assert.Equal(0xDEADBEEF_12345678UL, cqe.user_data);
        Assert.Equal(0, cqe.res);
        ring.AdvanceCq(1);
        Assert.False(ring.TryPeekCqe(out _));
        Assert.Equal(0u, ring.CqReady);
        Assert.Equal(0u, ring.SqDropped);
    }

    [Fact]
    public void Setup_reports_sizes_and_features()
    {
        using var ring = new IoUring(100, IoUringSetupFlags.None, cqEntries: 1024);
        Assert.Equal(128u, ring.SqEntries); // rounded up to a power of two
        Assert.Equal(1024u, ring.CqEntries);
        Assert.Equal(128u, ring.SqSpaceLeft);
        Assert.True((ring.Features & IoUringFeatures.NoDrop) != 0);
        Assert.Equal(IoUringSetupFlags.CqSize, ring.Flags);
        Assert.Equal(io_uring_sqe.CmdSize, ring.CmdPayloadCapacity);
    }

    [Fact]
    public void Write_then_read_back_at_offsets()
    {
        using var file = new TempFile("rw");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using var ring = new IoUring(8);
        using var buffer = new AlignedBuffer(3 * 4096);
        byte[] a = Pattern(4096, 1);
        byte[] b = Pattern(4096, 2);
        a.CopyTo(buffer.Slice(0, 4096));
        b.CopyTo(buffer.Slice(4096, 4096));

        UringPrep.Write(Sqe(ring), fd.RawFd, buffer.Pointer, 4096, 0, 1);
        UringPrep.Write(Sqe(ring), fd.RawFd, buffer.Pointer + 4096, 4096, 12288, 2);
        Assert.Equal(2, ring.SubmitAndWait(2));
        Span<io_uring_cqe> cqes = stackalloc io_uring_cqe[4];
        Assert.Equal(2, ring.Reap(cqes));
        Assert.All(cqes[..2].ToArray(), c => Assert.Equal(4096, c.res));

        // The file really holds the bytes where the offsets said, with a hole between.
        Assert.Equal(16384, FileDescriptor.GetSize(fd));
        var check = new byte[4096];
        FileDescriptor.PReadExactly(fd, check, 0);
        Assert.Equal(a, check);
        FileDescriptor.PReadExactly(fd, check, 12288);
        Assert.Equal(b, check);
        FileDescriptor.PReadExactly(fd, check, 4096);
        Assert.All(check, x => Assert.Equal(0, x));

        // And the ring reads them back, swapped into other halves of the buffer.
        byte* target = buffer.Pointer + 8192;
        UringPrep.Read(Sqe(ring), fd.RawFd, target, 4096, 12288, 3);
        io_uring_cqe read = SubmitAndTakeOne(ring);
        Assert.Equal(3ul, read.user_data);
        Assert.Equal(4096, read.res);
        Assert.Equal(b, buffer.Slice(8192, 4096).ToArray());

        UringPrep.Read(Sqe(ring), fd.RawFd, target, 4096, 0, 4);
        Assert.Equal(4096, SubmitAndTakeOne(ring).res);
        Assert.Equal(a, buffer.Slice(8192, 4096).ToArray());

        // A read past the end returns 0 bytes, not an error.
        UringPrep.Read(Sqe(ring), fd.RawFd, target, 4096, 1 << 20, 5);
        Assert.Equal(0, SubmitAndTakeOne(ring).res);
    }

    [Fact]
    public void Failed_operation_carries_negative_errno()
    {
        using var ring = new IoUring(4);
        ulong counter = 0;
        UringPrep.Read(Sqe(ring), 1 << 20, &counter, 8, 0, 9); // no such descriptor
        io_uring_cqe cqe = SubmitAndTakeOne(ring);
        Assert.Equal(9ul, cqe.user_data);
        Assert.Equal(Errno.EBADF.ToResult(), cqe.res);
    }

    [Fact]
    public void Fsync_datasync_returns_zero()
    {
        using var file = new TempFile("fsync");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        FileDescriptor.PWriteAll(fd, Pattern(8192, 3), 0);
        using var ring = new IoUring(4);
        UringPrep.Fsync(Sqe(ring), fd.RawFd, FsyncFlags.DataSync, 77);
        io_uring_cqe cqe = SubmitAndTakeOne(ring);
        Assert.Equal(77ul, cqe.user_data);
        Assert.Equal(0, cqe.res);

        UringPrep.Fsync(Sqe(ring), fd.RawFd, 0, 78);
        Assert.Equal(0, SubmitAndTakeOne(ring).res);

        // An unknown fsync flag is rejected, which shows the flag lands where the kernel reads it.
        UringPrep.Fsync(Sqe(ring), fd.RawFd, 0x80, 79);
        Assert.Equal(Errno.EINVAL.ToResult(), SubmitAndTakeOne(ring).res);
    }

    [Fact]
    public void Fallocate_punch_hole_zeroes_exactly_the_range_and_frees_blocks()
    {
        const int size = 1 << 20;
        const int holeOffset = 128 * 1024; // offset != length, so a swapped encoding punches elsewhere
        const int holeLength = 256 * 1024;
        using var file = new TempFile("punch");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        byte[] data = Pattern(size, 4);
        FileDescriptor.PWriteAll(fd, data, 0);
        FileDescriptor.DataSync(fd);
        long blocksBefore = FileDescriptor.Stat(fd).st_blocks;

        using var ring = new IoUring(4);
        UringPrep.Fallocate(Sqe(ring), fd.RawFd, FallocFlags.PunchHole | FallocFlags.KeepSize, holeOffset, holeLength, 5);
        io_uring_cqe cqe = SubmitAndTakeOne(ring);
        Assert.Equal(5ul, cqe.user_data);
        Assert.Equal(0, cqe.res);

        stat64 after = FileDescriptor.Stat(fd);
        Assert.Equal(size, after.st_size); // KEEP_SIZE
        Assert.True(after.st_blocks < blocksBefore, $"st_blocks {after.st_blocks} did not drop below {blocksBefore}");
        Assert.True(blocksBefore - after.st_blocks >= holeLength / 512 / 2, "far fewer blocks freed than the hole holds");

        var back = new byte[size];
        FileDescriptor.PReadExactly(fd, back, 0);
        Assert.Equal(data.AsSpan(0, holeOffset).ToArray(), back.AsSpan(0, holeOffset).ToArray());
        Assert.True(back.AsSpan(holeOffset, holeLength).IndexOfAnyExcept((byte)0) < 0, "the hole does not read as zeros");
        int tail = holeOffset + holeLength;
        Assert.Equal(data.AsSpan(tail).ToArray(), back.AsSpan(tail).ToArray());
    }

    [Fact]
    public void Fallocate_mode_zero_extends_the_file()
    {
        using var file = new TempFile("prealloc");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using var ring = new IoUring(4);
        UringPrep.Fallocate(Sqe(ring), fd.RawFd, 0, 4096, 65536, 6);
        Assert.Equal(0, SubmitAndTakeOne(ring).res);
        stat64 st = FileDescriptor.Stat(fd);
        Assert.Equal(4096 + 65536, st.st_size);
        Assert.True(st.st_blocks >= 65536 / 512);
    }

    [Fact]
    public void Dsync_write_is_accepted_and_lands()
    {
        using var file = new TempFile("dsync");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using var ring = new IoUring(4);
        using var buffer = new AlignedBuffer(4096);
        byte[] data = Pattern(4096, 5);
        data.CopyTo(buffer.Span);
        UringPrep.Write(Sqe(ring), fd.RawFd, buffer.Pointer, 4096, 8192, 10, RwFlags.DSync);
        Assert.Equal(4096, SubmitAndTakeOne(ring).res);
        var back = new byte[4096];
        FileDescriptor.PReadExactly(fd, back, 8192);
        Assert.Equal(data, back);

        // An RWF bit the kernel does not know is refused: rw_flags is where the kernel looks.
        UringPrep.Write(Sqe(ring), fd.RawFd, buffer.Pointer, 4096, 0, 11, 0x4000_0000);
        Assert.Equal(Errno.EOPNOTSUPP.ToResult(), SubmitAndTakeOne(ring).res);
    }

    [Fact]
    public void Direct_io_read_write_with_aligned_buffer()
    {
        using var file = new TempFile("direct");
        SafeFileDescriptor fd;
        try
        {
            fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create | OpenFlags.Direct);
        }
        catch (ErrnoException e) when (e.Errno == Errno.EINVAL)
        {
            // tmpfs and some overlay filesystems refuse O_DIRECT: then the typed error is the behaviour to check.
            Assert.Contains(file.Path, e.Message, StringComparison.Ordinal);
            return;
        }

        using (fd)
        {
            using var ring = new IoUring(4);
            using var buffer = new AlignedBuffer(8192);
            Assert.Equal(0, (long)buffer.Pointer % 4096);
            byte[] data = Pattern(4096, 6);
            data.CopyTo(buffer.Slice(0, 4096));
            UringPrep.Write(Sqe(ring), fd.RawFd, buffer.Pointer, 4096, 4096, 1);
            Assert.Equal(4096, SubmitAndTakeOne(ring).res);
            UringPrep.Read(Sqe(ring), fd.RawFd, buffer.Pointer + 4096, 4096, 4096, 2);
            Assert.Equal(4096, SubmitAndTakeOne(ring).res);
            Assert.Equal(data, buffer.Slice(4096, 4096).ToArray());
        }
    }

    [Fact]
    public void Batch_of_32_reaps_32_completions_with_their_user_data()
    {
        using var ring = new IoUring(32);
        var expected = new HashSet<ulong>();
        for (ulong i = 0; i < 32; i++)
        {
            ulong tag = (i * 0x9E3779B97F4A7C15UL) | 1;
            expected.Add(tag);
            UringPrep.Nop(Sqe(ring), tag);
        }

        Assert.False(ring.TryGetSqe(out io_uring_sqe* none)); // the SQ holds exactly 32
        Assert.True(none == null);
        Assert.Equal(0u, ring.SqSpaceLeft);
        Assert.Equal(32, ring.SubmitAndWait(32));
        Assert.Equal(32u, ring.CqReady);
        Assert.Equal(32u, ring.SqSpaceLeft);

        var cqes = new io_uring_cqe[64];
        Assert.Equal(32, ring.Reap(cqes));
        Assert.Equal(expected, cqes.Take(32).Select(c => c.user_data).ToHashSet());
        Assert.All(cqes.Take(32), c => Assert.Equal(0, c.res));
        Assert.Equal(0, ring.Reap(cqes));
    }

    [Fact]
    public void Batch_of_32_file_writes_at_distinct_offsets()
    {
        using var file = new TempFile("batch");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using var ring = new IoUring(32);
        using var buffer = new AlignedBuffer(32 * 512);
        for (int i = 0; i < 32; i++)
        {
            buffer.Slice(i * 512, 512).Fill((byte)(i + 1));
        }

        // Written in reverse slot order so a wrong offset or address cannot line up by accident.
        for (int i = 31; i >= 0; i--)
        {
            UringPrep.Write(Sqe(ring), fd.RawFd, buffer.Pointer + (i * 512), 512, (ulong)i * 512, (ulong)(1000 + i));
        }

        Assert.Equal(32, ring.Submit());
        var seen = new List<io_uring_cqe>();
        Span<io_uring_cqe> batch = stackalloc io_uring_cqe[8];
        while (seen.Count < 32)
        {
            ring.SubmitAndWait(1);
            int n = ring.Reap(batch);
            for (int i = 0; i < n; i++)
            {
                seen.Add(batch[i]);
            }
        }

        Assert.Equal(Enumerable.Range(1000, 32).Select(i => (ulong)i).ToHashSet(), seen.Select(c => c.user_data).ToHashSet());
        Assert.All(seen, c => Assert.Equal(512, c.res));
        var back = new byte[32 * 512];
        FileDescriptor.PReadExactly(fd, back, 0);
        for (int i = 0; i < 32; i++)
        {
            Assert.True(back.AsSpan(i * 512, 512).IndexOfAnyExcept((byte)(i + 1)) < 0, $"sector {i} is wrong");
        }
    }

    [Fact]
    public void Sq_wraps_around_many_times()
    {
        // 4 slots, 1000 operations: exercises the index masks and the one-time SQ array setup.
        using var ring = new IoUring(4);
        ulong next = 0;
        ulong expect = 0;
        Span<io_uring_cqe> cqes = stackalloc io_uring_cqe[4];
        while (expect < 1000)
        {
            while (next < 1000 && ring.TryGetSqe(out io_uring_sqe* sqe))
            {
                UringPrep.Nop(sqe, next++);
            }

            ring.SubmitAndWait(1);
            int n = ring.Reap(cqes);
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(expect++, cqes[i].user_data); // NOPs complete in order
            }
        }
    }

    [Fact]
    public void Completions_beyond_the_cq_are_not_lost()
    {
        // CQ of 8, 24 completions posted before any reap: the kernel holds the overflow
        // (IORING_FEAT_NODROP) and the ring must still deliver every one.
        using var ring = new IoUring(8, IoUringSetupFlags.None, cqEntries: 8);
        var expected = new HashSet<ulong>();
        for (ulong round = 0; round < 3; round++)
        {
            for (ulong i = 0; i < 8; i++)
            {
                ulong tag = (round * 100) + i;
                expected.Add(tag);
                UringPrep.Nop(Sqe(ring), tag);
            }

            ring.Submit();
        }

        Assert.Equal(0u, ring.SqPending);
        var seen = new List<ulong>();
        Span<io_uring_cqe> cqes = stackalloc io_uring_cqe[3];
        while (seen.Count < expected.Count)
        {
            int n = ring.Reap(cqes);
            if (n == 0)
            {
                // Flushes the kernel's overflow list into the emptied CQ.
                ring.SubmitAndWait(0);
                n = ring.Reap(cqes);
                Assert.True(n > 0, $"completions lost: got {seen.Count} of {expected.Count}");
            }

            for (int i = 0; i < n; i++)
            {
                seen.Add(cqes[i].user_data);
            }
        }

        Assert.Equal(expected, seen.ToHashSet());
        Assert.Equal(expected.Count, seen.Count);
        Assert.Equal(0u, ring.CqOverflow);
    }

    [Fact]
    public void Eventfd_read_armed_in_the_ring_completes_when_another_thread_signals()
    {
        using var ring = new IoUring(4);
        using var wake = new EventFd(nonBlocking: false);
        ulong* counter = (ulong*)NativeMemory.AllocZeroed(sizeof(ulong));
        KernelTimespec guard = KernelTimespec.FromTimeSpan(TimeSpan.FromSeconds(60));
        try
        {
            UringPrep.ReadEventFd(Sqe(ring), wake.Fd, counter, 1);

            // A hang guard only: fails the test instead of hanging it if the wake never arrives.
            UringPrep.Timeout(Sqe(ring), &guard, 0, 2);
            Assert.Equal(2, ring.Submit());
            ring.SubmitAndWait(0);
            Assert.Equal(0u, ring.CqReady); // nothing signalled yet: the read must still be pending

            var signaller = new Thread(() => wake.Signal(5));
            signaller.Start();
            io_uring_cqe cqe = SubmitAndTakeOne(ring);
            signaller.Join();

            Assert.Equal(1ul, cqe.user_data);
            Assert.Equal(sizeof(ulong), cqe.res);
            Assert.Equal(5ul, *counter);

            UringPrep.AsyncCancel(Sqe(ring), 2, 3);
            ring.SubmitAndWait(2);
            var rest = new io_uring_cqe[2];
            Assert.Equal(2, ring.Reap(rest));
            Assert.Contains(rest, c => c.user_data == 2 && c.res == Errno.ECANCELED.ToResult());
            Assert.Contains(rest, c => c.user_data == 3 && c.res == 0);
        }
        finally
        {
            NativeMemory.Free(counter);
        }
    }

    [Fact]
    public void Poll_add_reports_readable_eventfd()
    {
        using var ring = new IoUring(4);
        using var wake = new EventFd();
        UringPrep.PollAdd(Sqe(ring), wake.Fd, PollMask.In, 4);
        ring.Submit();
        ring.SubmitAndWait(0);
        Assert.Equal(0u, ring.CqReady);
        wake.Signal();
        io_uring_cqe cqe = SubmitAndTakeOne(ring);
        Assert.Equal(4ul, cqe.user_data);
        Assert.True((cqe.res & (int)PollMask.In) != 0);
        Assert.True(wake.TryRead(out ulong value));
        Assert.Equal(1ul, value);
    }

    [Fact]
    public void Timeout_expires_with_etime()
    {
        using var ring = new IoUring(4);
        KernelTimespec ts = KernelTimespec.FromTimeSpan(TimeSpan.FromMilliseconds(1));
        UringPrep.Timeout(Sqe(ring), &ts, 0, 8);
        io_uring_cqe cqe = SubmitAndTakeOne(ring);
        Assert.Equal(8ul, cqe.user_data);
        Assert.Equal(Errno.ETIME.ToResult(), cqe.res);
    }

    [Fact]
    public void Msg_ring_posts_a_completion_on_another_ring()
    {
        using var sender = new IoUring(4);
        using var target = new IoUring(4);
        UringPrep.MsgRing(Sqe(sender), target.RingFd, 42, 0xABCDUL, 1);
        io_uring_cqe own = SubmitAndTakeOne(sender);
        Assert.Equal(1ul, own.user_data);
        Assert.Equal(0, own.res);

        io_uring_cqe posted = SubmitAndTakeOne(target);
        Assert.Equal(0xABCDUL, posted.user_data);
        Assert.Equal(42, posted.res);
    }

    [Fact]
    public void Uring_cmd_payload_lands_at_byte_48_and_reaches_the_kernel()
    {
        using var file = new TempFile("cmd");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using var ring = new IoUring(4);
        io_uring_sqe* sqe = Sqe(ring);
        byte[] payload = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        UringPrep.UringCmd(sqe, fd.RawFd, 0xC0107520, payload, 12);
        Assert.Equal(IoUringOp.UringCmd, sqe->opcode);
        Assert.Equal(0xC0107520u, sqe->cmd_op);
        Assert.Equal(0u, sqe->__pad1);
        Assert.Equal(payload, new ReadOnlySpan<byte>((byte*)sqe + 48, 16).ToArray());

        // A regular file has no uring_cmd handler: the kernel answers EOPNOTSUPP for the command.
        io_uring_cqe cqe = SubmitAndTakeOne(ring);
        Assert.Equal(12ul, cqe.user_data);
        Assert.Equal(Errno.EOPNOTSUPP.ToResult(), cqe.res);
    }

    [StructLayout(LayoutKind.Explicit, Size = 32)]
    private struct ThirtyTwo
    {
        [FieldOffset(0)] public uint A;
        [FieldOffset(8)] public ulong B;
        [FieldOffset(24)] public ulong C;
    }

    [Fact]
    public void Sqe128_ring_carries_a_32_byte_struct_payload_and_zeroes_all_128_bytes()
    {
        using var ring = new IoUring(2, IoUringSetupFlags.Sqe128);
        Assert.Equal(io_uring_sqe.CmdSize128, ring.CmdPayloadCapacity);
        io_uring_sqe* first = Sqe(ring);
        var payload = new ThirtyTwo { A = 0x11223344, B = 0x5566778899AABBCC, C = 0x0102030405060708 };
        UringPrep.UringCmd(first, -1, 0xC0207504, in payload, 1);
        byte* cmd = UringPrep.Cmd(first);
        Assert.Equal(0x11223344u, *(uint*)cmd);
        Assert.Equal(0x5566778899AABBCCUL, *(ulong*)(cmd + 8));
        Assert.Equal(0x0102030405060708UL, *(ulong*)(cmd + 24));
        Assert.Equal(Errno.EBADF.ToResult(), SubmitAndTakeOne(ring).res);

        // Dirty the whole (now free) 128-byte slot, go round the ring, and get it back clean.
        new Span<byte>(first, 128).Fill(0xFF);
        UringPrep.Nop(Sqe(ring), 2);
        Assert.Equal(0, SubmitAndTakeOne(ring).res);
        io_uring_sqe* again = Sqe(ring);
        Assert.True(again == first, "a two-slot ring should hand the first slot out again");
        Assert.True(new ReadOnlySpan<byte>(again, 128).IndexOfAnyExcept((byte)0) < 0, "the recycled SQE was not zeroed across 128 bytes");

        // The second slot starts 128 bytes after the first: the stride is the SQE128 size.
        UringPrep.Nop(again, 3);
        Assert.Equal(0, SubmitAndTakeOne(ring).res);
        Assert.True(Sqe(ring) == first + 2, "SQE128 slots are 128 bytes apart");
    }

    [Fact]
    public void Uring_cmd_rejects_payload_over_80_bytes()
    {
        using var ring = new IoUring(2, IoUringSetupFlags.Sqe128);
        io_uring_sqe* sqe = Sqe(ring);
        Assert.Throws<ArgumentOutOfRangeException>(() => UringPrep.UringCmd(sqe, 0, 0, new byte[81], 0));
    }

    [Fact]
    public void Single_issuer_defer_taskrun_ring_works_when_offered()
    {
        using var file = new TempFile("defer");
        using SafeFileDescriptor fd = FileDescriptor.Open(file.Path, OpenFlags.ReadWrite | OpenFlags.Create);
        using IoUring ring = IoUring.CreateWithFallback(
            8,
            IoUringSetupFlags.None,
            IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun);

        // Both target kernels (6.12, 6.18) have these flags; an older one falls back to none.
        Assert.True(
            ring.Flags == (IoUringSetupFlags.SingleIssuer | IoUringSetupFlags.DeferTaskrun) || ring.Flags == IoUringSetupFlags.None,
            ring.Flags.ToString());
        using var buffer = new AlignedBuffer(4096);
        buffer.Span.Fill(0x5A);
        UringPrep.Write(Sqe(ring), fd.RawFd, buffer.Pointer, 4096, 0, 1);
        UringPrep.Fsync(Sqe(ring), fd.RawFd, FsyncFlags.DataSync, 2);
        Assert.Equal(2, ring.SubmitAndWait(2));
        var cqes = new io_uring_cqe[2];
        Assert.Equal(2, ring.Reap(cqes));
        Assert.Contains(cqes, c => c.user_data == 1 && c.res == 4096);
        Assert.Contains(cqes, c => c.user_data == 2 && c.res == 0);
    }

    [Fact]
    public void Unknown_setup_flag_throws_einval_and_fallback_drops_the_optional_flags()
    {
        const IoUringSetupFlags bogus = (IoUringSetupFlags)(1U << 31);
        ErrnoException e = Assert.Throws<ErrnoException>(() => new IoUring(4, bogus));
        Assert.Equal(Errno.EINVAL, e.Errno);
        Assert.Contains("io_uring_setup", e.Message, StringComparison.Ordinal);
        Assert.Contains("EINVAL", e.Message, StringComparison.Ordinal);

        using IoUring ring = IoUring.CreateWithFallback(4, IoUringSetupFlags.Sqe128, bogus);
        Assert.Equal(IoUringSetupFlags.Sqe128, ring.Flags);
        UringPrep.Nop(Sqe(ring), 1);
        Assert.Equal(0, SubmitAndTakeOne(ring).res);
    }

    [Fact]
    public void Fallback_tries_the_second_choice_before_none()
    {
        const IoUringSetupFlags bogus = (IoUringSetupFlags)(1U << 31);

        // The first choice refused, the second taken.
        using (IoUring ring = IoUring.CreateWithFallback(4, IoUringSetupFlags.None, bogus, IoUringSetupFlags.Sqe128))
        {
            Assert.Equal(IoUringSetupFlags.Sqe128, ring.Flags);
        }

        // Both refused: the required flags alone.
        using (IoUring ring = IoUring.CreateWithFallback(4, IoUringSetupFlags.Sqe128, bogus, bogus | IoUringSetupFlags.Cqe32))
        {
            Assert.Equal(IoUringSetupFlags.Sqe128, ring.Flags);
        }

        // The first choice taken when the kernel knows it.
        using (IoUring ring = IoUring.CreateWithFallback(4, IoUringSetupFlags.None, IoUringSetupFlags.Cqe32, IoUringSetupFlags.Sqe128))
        {
            Assert.Equal(IoUringSetupFlags.Cqe32, ring.Flags);
        }
    }

    [Fact]
    public void Sqpoll_is_refused_up_front()
    {
        Assert.Throws<ArgumentException>(() => new IoUring(4, IoUringSetupFlags.SqPoll));
    }

    [Fact]
    public void Use_after_dispose_throws()
    {
        var ring = new IoUring(4);
        ring.Dispose();
        ring.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => ring.TryGetSqe(out _));
        Assert.Throws<ObjectDisposedException>(() => ring.Submit());
        Assert.Throws<ObjectDisposedException>(() => ring.TryPeekCqe(out _));
    }

    [Fact]
    public void Submit_and_reap_cycles_allocate_nothing()
    {
        using var ring = new IoUring(16);
        Span<io_uring_cqe> cqes = stackalloc io_uring_cqe[16];

        static void Cycle(IoUring ring, Span<io_uring_cqe> cqes, int i)
        {
            Assert.True(ring.TryGetSqe(out io_uring_sqe* sqe));
            UringPrep.Nop(sqe, (ulong)i);
            ring.SubmitAndWait(1);
            if ((i & 1) == 0)
            {
                ring.TryPeekCqe(out _);
                ring.AdvanceCq(1);
            }
            else
            {
                ring.Reap(cqes);
            }
        }

        // Warm up so tiering and first-call stubs are done before measuring.
        for (int i = 0; i < 200; i++)
        {
            Cycle(ring, cqes, i);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            Cycle(ring, cqes, i);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(0u, ring.CqReady);
    }
}
