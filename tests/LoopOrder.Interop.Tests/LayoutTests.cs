using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LoopOrder.Interop.Native;
using LoopOrder.Interop.Uring;
using LoopOrder.Tests.Shared;

namespace LoopOrder.Interop.Tests;

/// <summary>
/// Every kernel struct, field offset and constant the interop layer declares, against what gcc
/// computes from the system headers and from each VM kernel's (6.12, 7.3). One test a header
/// set, one report of every mismatch.
/// </summary>
public class LayoutTests
{
    private static long Off<T>(string field) => (long)Marshal.OffsetOf<T>(field);

    private static IEnumerable<(string Key, long Value)> Declared()
    {
        yield return ("sizeof.io_uring_sqe", Unsafe.SizeOf<io_uring_sqe>());
        foreach (string f in new[]
        {
            "opcode", "flags", "ioprio", "fd", "off", "addr2", "cmd_op", "__pad1", "addr", "splice_off_in",
            "len", "rw_flags", "fsync_flags", "poll32_events", "msg_ring_flags", "timeout_flags",
            "cancel_flags", "uring_cmd_flags", "user_data", "buf_index", "buf_group", "personality",
            "splice_fd_in", "file_index", "addr_len", "addr3", "__pad2",
        })
        {
            yield return ("io_uring_sqe." + f, Off<io_uring_sqe>(f));
        }

        yield return ("io_uring_sqe.cmd", io_uring_sqe.CmdOffset);

        yield return ("sizeof.io_uring_cqe", Unsafe.SizeOf<io_uring_cqe>());
        foreach (string f in new[] { "user_data", "res", "flags" })
        {
            yield return ("io_uring_cqe." + f, Off<io_uring_cqe>(f));
        }

        yield return ("sizeof.io_uring_params", Unsafe.SizeOf<io_uring_params>());
        foreach (string f in new[]
        {
            "sq_entries", "cq_entries", "flags", "sq_thread_cpu", "sq_thread_idle", "features", "wq_fd",
            "resv", "sq_off", "cq_off",
        })
        {
            yield return ("io_uring_params." + f, Off<io_uring_params>(f));
        }

        yield return ("sizeof.io_sqring_offsets", Unsafe.SizeOf<io_sqring_offsets>());
        foreach (string f in new[] { "head", "tail", "ring_mask", "ring_entries", "flags", "dropped", "array", "resv1" })
        {
            yield return ("io_sqring_offsets." + f, Off<io_sqring_offsets>(f));
        }

        yield return ("sizeof.io_cqring_offsets", Unsafe.SizeOf<io_cqring_offsets>());
        foreach (string f in new[] { "head", "tail", "ring_mask", "ring_entries", "overflow", "cqes", "flags", "resv1" })
        {
            yield return ("io_cqring_offsets." + f, Off<io_cqring_offsets>(f));
        }

        yield return ("sizeof.statx", Unsafe.SizeOf<StatxBuffer>());
        foreach ((string c, string cs) in new[]
        {
            ("stx_mask", "Mask"), ("stx_mode", "Mode"), ("stx_size", "Size"), ("stx_blocks", "Blocks"),
            ("stx_dio_mem_align", "DioMemAlign"), ("stx_dio_offset_align", "DioOffsetAlign"),
        })
        {
            yield return ("statx." + c, Off<StatxBuffer>(cs));
        }

        yield return ("sizeof.io_uring_rsrc_register", Unsafe.SizeOf<io_uring_rsrc_register>());
        foreach (string f in new[] { "nr", "flags", "resv2", "data", "tags" })
        {
            yield return ("io_uring_rsrc_register." + f, Off<io_uring_rsrc_register>(f));
        }

        yield return ("sizeof.io_uring_buf_reg", Unsafe.SizeOf<io_uring_buf_reg>());
        foreach (string f in new[] { "ring_addr", "ring_entries", "bgid", "flags" })
        {
            yield return ("io_uring_buf_reg." + f, Off<io_uring_buf_reg>(f));
        }

        yield return ("sizeof.io_uring_buf", Unsafe.SizeOf<io_uring_buf>());
        foreach (string f in new[] { "addr", "len", "bid", "resv" })
        {
            yield return ("io_uring_buf." + f, Off<io_uring_buf>(f));
        }

        yield return ("sizeof.__kernel_timespec", Unsafe.SizeOf<KernelTimespec>());
        yield return ("__kernel_timespec.tv_sec", Off<KernelTimespec>("tv_sec"));
        yield return ("__kernel_timespec.tv_nsec", Off<KernelTimespec>("tv_nsec"));

        yield return ("sizeof.stat", Unsafe.SizeOf<stat64>());
        foreach (string f in new[] { "st_dev", "st_ino", "st_nlink", "st_mode", "st_uid", "st_gid", "st_rdev", "st_size", "st_blksize", "st_blocks" })
        {
            yield return ("stat." + f, Off<stat64>(f));
        }

        yield return ("stat.st_atim.tv_sec", Off<stat64>("st_atime"));
        yield return ("stat.st_atim.tv_nsec", Off<stat64>("st_atime_nsec"));
        yield return ("stat.st_mtim.tv_sec", Off<stat64>("st_mtime"));
        yield return ("stat.st_mtim.tv_nsec", Off<stat64>("st_mtime_nsec"));
        yield return ("stat.st_ctim.tv_sec", Off<stat64>("st_ctime"));
        yield return ("stat.st_ctim.tv_nsec", Off<stat64>("st_ctime_nsec"));

        (string, long)[] constants =
        [
            ("IORING_OP_NOP", IoUringOp.Nop), ("IORING_OP_FSYNC", IoUringOp.Fsync),
            ("IORING_OP_READ_FIXED", IoUringOp.ReadFixed), ("IORING_OP_WRITE_FIXED", IoUringOp.WriteFixed),
            ("IORING_REGISTER_BUFFERS2", IoUringRegister.Buffers2), ("IORING_RSRC_REGISTER_SPARSE", IoUringRegister.RsrcRegisterSparse),
            ("IORING_OP_POLL_ADD", IoUringOp.PollAdd), ("IORING_OP_TIMEOUT", IoUringOp.Timeout),
            ("IORING_OP_ASYNC_CANCEL", IoUringOp.AsyncCancel), ("IORING_OP_FALLOCATE", IoUringOp.Fallocate),
            ("IORING_OP_READ", IoUringOp.Read), ("IORING_OP_WRITE", IoUringOp.Write),
            ("IORING_OP_MSG_RING", IoUringOp.MsgRing), ("IORING_OP_URING_CMD", IoUringOp.UringCmd),
            ("IOSQE_FIXED_FILE", IoSqeFlags.FixedFile), ("IOSQE_IO_DRAIN", IoSqeFlags.IoDrain),
            ("IOSQE_IO_LINK", IoSqeFlags.IoLink), ("IOSQE_IO_HARDLINK", IoSqeFlags.IoHardLink),
            ("IOSQE_ASYNC", IoSqeFlags.Async), ("IOSQE_CQE_SKIP_SUCCESS", IoSqeFlags.CqeSkipSuccess),
            ("IOSQE_BUFFER_SELECT", IoSqeFlags.BufferSelect), ("IORING_REGISTER_PBUF_RING", IoUringRegister.PbufRing),
            ("IORING_UNREGISTER_PBUF_RING", IoUringRegister.UnregisterPbufRing),
            ("IORING_CQE_F_BUFFER", IoCqeFlags.Buffer), ("IORING_CQE_F_MORE", IoCqeFlags.More),
            ("IORING_CQE_F_BUF_MORE", IoCqeFlags.BufMore), ("IOU_PBUF_RING_INC", IoUringRegister.PbufRingInc),
            ("IORING_URING_CMD_FIXED", UringCmdFlags.Fixed), ("IORING_URING_CMD_MULTISHOT", UringCmdFlags.Multishot),
            ("IORING_SETUP_IOPOLL", (long)IoUringSetupFlags.IoPoll), ("IORING_SETUP_SQPOLL", (long)IoUringSetupFlags.SqPoll),
            ("IORING_SETUP_CQSIZE", (long)IoUringSetupFlags.CqSize), ("IORING_SETUP_CLAMP", (long)IoUringSetupFlags.Clamp),
            ("IORING_SETUP_SUBMIT_ALL", (long)IoUringSetupFlags.SubmitAll),
            ("IORING_SETUP_COOP_TASKRUN", (long)IoUringSetupFlags.CoopTaskrun),
            ("IORING_SETUP_TASKRUN_FLAG", (long)IoUringSetupFlags.TaskrunFlag),
            ("IORING_SETUP_SQE128", (long)IoUringSetupFlags.Sqe128), ("IORING_SETUP_CQE32", (long)IoUringSetupFlags.Cqe32),
            ("IORING_SETUP_SINGLE_ISSUER", (long)IoUringSetupFlags.SingleIssuer),
            ("IORING_SETUP_DEFER_TASKRUN", (long)IoUringSetupFlags.DeferTaskrun),
            ("IORING_SETUP_NO_SQARRAY", (long)IoUringSetupFlags.NoSqArray),
            ("IORING_FEAT_SINGLE_MMAP", (long)IoUringFeatures.SingleMmap), ("IORING_FEAT_NODROP", (long)IoUringFeatures.NoDrop),
            ("IORING_FEAT_SUBMIT_STABLE", (long)IoUringFeatures.SubmitStable),
            ("IORING_FEAT_RW_CUR_POS", (long)IoUringFeatures.RwCurPos), ("IORING_FEAT_FAST_POLL", (long)IoUringFeatures.FastPoll),
            ("IORING_FEAT_EXT_ARG", (long)IoUringFeatures.ExtArg), ("IORING_FEAT_NATIVE_WORKERS", (long)IoUringFeatures.NativeWorkers),
            ("IORING_OFF_SQ_RING", IoUringAbi.OffSqRing), ("IORING_OFF_CQ_RING", IoUringAbi.OffCqRing),
            ("IORING_OFF_SQES", IoUringAbi.OffSqes), ("IORING_ENTER_GETEVENTS", IoUringAbi.EnterGetEvents),
            ("IORING_SQ_NEED_WAKEUP", IoUringAbi.SqNeedWakeup), ("IORING_SQ_CQ_OVERFLOW", IoUringAbi.SqCqOverflow),
            ("IORING_SQ_TASKRUN", IoUringAbi.SqTaskrun), ("IORING_FSYNC_DATASYNC", FsyncFlags.DataSync),
            ("IORING_MSG_DATA", (long)IoUringAbi.MsgData),
            ("RWF_HIPRI", RwFlags.HiPri), ("RWF_DSYNC", RwFlags.DSync), ("RWF_SYNC", RwFlags.Sync), ("RWF_NOWAIT", RwFlags.NoWait),
            ("FALLOC_FL_KEEP_SIZE", FallocFlags.KeepSize), ("FALLOC_FL_PUNCH_HOLE", FallocFlags.PunchHole),
            ("FALLOC_FL_ZERO_RANGE", FallocFlags.ZeroRange),
            ("POLLIN", PollMask.In), ("POLLOUT", PollMask.Out), ("POLLERR", PollMask.Err), ("POLLHUP", PollMask.Hup),
            ("O_RDONLY", (long)OpenFlags.ReadOnly), ("O_WRONLY", (long)OpenFlags.WriteOnly), ("O_RDWR", (long)OpenFlags.ReadWrite),
            ("O_CREAT", (long)OpenFlags.Create), ("O_EXCL", (long)OpenFlags.Exclusive), ("O_TRUNC", (long)OpenFlags.Truncate),
            ("O_NONBLOCK", (long)OpenFlags.NonBlocking), ("O_DSYNC", (long)OpenFlags.DataSync), ("O_DIRECT", (long)OpenFlags.Direct),
            ("O_CLOEXEC", Libc.O_CLOEXEC),
            ("LOCK_SH", Libc.LOCK_SH), ("LOCK_EX", Libc.LOCK_EX), ("LOCK_NB", Libc.LOCK_NB), ("LOCK_UN", Libc.LOCK_UN),
            ("EFD_CLOEXEC", Libc.EFD_CLOEXEC), ("EFD_NONBLOCK", Libc.EFD_NONBLOCK),
            ("PROT_READ", Libc.PROT_READ), ("PROT_WRITE", Libc.PROT_WRITE), ("MAP_SHARED", Libc.MAP_SHARED),
            ("MAP_PRIVATE", Libc.MAP_PRIVATE), ("MAP_ANONYMOUS", Libc.MAP_ANONYMOUS), ("MAP_POPULATE", Libc.MAP_POPULATE),
            ("BLKGETSIZE64", (long)Libc.BLKGETSIZE64),
            ("S_IFMT", stat64.S_IFMT), ("S_IFREG", stat64.S_IFREG), ("S_IFBLK", stat64.S_IFBLK),
            ("S_IFDIR", stat64.S_IFDIR), ("S_IFCHR", stat64.S_IFCHR),
            ("STATX_TYPE", StatxBuffer.STATX_TYPE), ("STATX_SIZE", StatxBuffer.STATX_SIZE), ("STATX_BLOCKS", StatxBuffer.STATX_BLOCKS),
            ("STATX_DIOALIGN", StatxBuffer.STATX_DIOALIGN), ("AT_EMPTY_PATH", Libc.AT_EMPTY_PATH),
            ("F_GETFL", Libc.F_GETFL), ("F_SETFL", Libc.F_SETFL),
            ("SYS_fstat", Libc.SYS_fstat), ("SYS_io_uring_setup", Libc.SYS_io_uring_setup),
            ("SYS_io_uring_enter", Libc.SYS_io_uring_enter), ("SYS_io_uring_register", Libc.SYS_io_uring_register),
            ("EPERM", (long)Errno.EPERM), ("ENOENT", (long)Errno.ENOENT), ("EINTR", (long)Errno.EINTR), ("EIO", (long)Errno.EIO),
            ("ENXIO", (long)Errno.ENXIO), ("EBADF", (long)Errno.EBADF), ("EAGAIN", (long)Errno.EAGAIN), ("EWOULDBLOCK", (long)Errno.EWOULDBLOCK),
            ("ENOMEM", (long)Errno.ENOMEM), ("EACCES", (long)Errno.EACCES), ("EFAULT", (long)Errno.EFAULT), ("EBUSY", (long)Errno.EBUSY),
            ("EEXIST", (long)Errno.EEXIST), ("EXDEV", (long)Errno.EXDEV), ("ENODEV", (long)Errno.ENODEV), ("EISDIR", (long)Errno.EISDIR), ("EINVAL", (long)Errno.EINVAL),
            ("ENOTTY", (long)Errno.ENOTTY), ("EFBIG", (long)Errno.EFBIG), ("ENOSPC", (long)Errno.ENOSPC), ("ESPIPE", (long)Errno.ESPIPE),
            ("EROFS", (long)Errno.EROFS), ("ENOSYS", (long)Errno.ENOSYS), ("ETIME", (long)Errno.ETIME), ("EOVERFLOW", (long)Errno.EOVERFLOW),
            ("EOPNOTSUPP", (long)Errno.EOPNOTSUPP), ("ENOTSUP", (long)Errno.ENOTSUP), ("ETIMEDOUT", (long)Errno.ETIMEDOUT),
            ("EALREADY", (long)Errno.EALREADY), ("EDQUOT", (long)Errno.EDQUOT), ("ECANCELED", (long)Errno.ECANCELED), ("ENOBUFS", (long)Errno.ENOBUFS),
        ];
        foreach ((string name, long value) in constants)
        {
            yield return ("const." + name, value);
        }
    }

    // Constants newer than the oldest header CI may compile against (linux-libc-dev 6.1 lacks
    // NO_SQARRAY, 6.6+; BUF_MORE and PBUF_RING_INC, 6.12+; URING_CMD_MULTISHOT, 6.18+); checked
    // when the header has them.
    private static readonly HashSet<string> OptionalInHeader =
    [
        "const.IORING_SETUP_NO_SQARRAY", "io_uring_buf_reg.flags", "const.IORING_CQE_F_BUF_MORE", "const.IOU_PBUF_RING_INC", "const.IORING_URING_CMD_MULTISHOT",
    ];

    public static TheoryData<string> HeaderSets => [NativeProbe.System, .. UapiHeaders.Kernels];

    [Theory]
    [MemberData(nameof(HeaderSets))]
    public void Structs_fields_and_constants_match_the_headers(string headers)
    {
        IReadOnlyDictionary<string, long> native = NativeProbe.Get(headers);
        var problems = new List<string>();
        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach ((string key, long value) in Declared())
        {
            declared.Add(key);
            if (!native.TryGetValue(key, out long expected))
            {
                if (!OptionalInHeader.Contains(key))
                {
                    problems.Add($"{key}: the C probe did not print it");
                }

                continue;
            }

            if (expected != value)
            {
                problems.Add($"{key}: C says {expected}, C# says {value}");
            }
        }

        foreach (string key in native.Keys)
        {
            if (!declared.Contains(key))
            {
                problems.Add($"{key}: printed by the C probe but not checked against C#");
            }
        }

        Assert.True(problems.Count == 0, $"against the {headers} headers:\n" + string.Join('\n', problems));

        // The check above must have covered something real.
        Assert.True(declared.Count > 150, $"only {declared.Count} values were compared");
    }

    [Fact]
    public void Sqe_payload_area_sizes_follow_the_header_comment()
    {
        // cmd[] starts at addr3 and runs to the end of the SQE: 16 bytes of a 64-byte SQE, 80 of a 128-byte one.
        Assert.Equal(io_uring_sqe.CmdSize, Unsafe.SizeOf<io_uring_sqe>() - io_uring_sqe.CmdOffset);
        Assert.Equal(io_uring_sqe.CmdSize128, (2 * Unsafe.SizeOf<io_uring_sqe>()) - io_uring_sqe.CmdOffset);
    }
}
