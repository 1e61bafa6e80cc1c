using System.Collections.Concurrent;
using System.Globalization;
using LoopOrder.Tests.Shared;

namespace LoopOrder.Interop.Tests;

/// <summary>
/// Compiles a C program against the system headers (linux/io_uring.h from linux-libc-dev,
/// glibc's sys/stat.h, fcntl.h, ...), or with the kernel headers of one of the VM's kernels ahead
/// of the system's (<see cref="UapiHeaders"/>), and returns what it prints: "key value" lines with
/// struct sizes, field offsets and constants, the ground truth the C# declarations are checked
/// against.
/// </summary>
internal static class NativeProbe
{
    private const string Program = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <poll.h>
        #include <stddef.h>
        #include <stdio.h>
        #include <sys/eventfd.h>
        #include <sys/file.h>
        #include <sys/mman.h>
        #include <sys/stat.h>
        #include <sys/syscall.h>
        #include <linux/falloc.h>
        #include <linux/io_uring.h>

        #define P(name, expr) printf("%s %lld\n", name, (long long)(expr))
        #define SZ(t) P("sizeof." #t, sizeof(struct t))
        #define OFF(t, f) P(#t "." #f, offsetof(struct t, f))
        #define C(name) P("const." #name, name)

        int main(void)
        {
            SZ(io_uring_sqe);
            OFF(io_uring_sqe, opcode); OFF(io_uring_sqe, flags); OFF(io_uring_sqe, ioprio);
            OFF(io_uring_sqe, fd); OFF(io_uring_sqe, off); OFF(io_uring_sqe, addr2);
            OFF(io_uring_sqe, cmd_op); OFF(io_uring_sqe, __pad1); OFF(io_uring_sqe, addr);
            OFF(io_uring_sqe, splice_off_in); OFF(io_uring_sqe, len); OFF(io_uring_sqe, rw_flags);
            OFF(io_uring_sqe, fsync_flags); OFF(io_uring_sqe, poll32_events);
            OFF(io_uring_sqe, msg_ring_flags); OFF(io_uring_sqe, timeout_flags);
            OFF(io_uring_sqe, cancel_flags); OFF(io_uring_sqe, uring_cmd_flags);
            OFF(io_uring_sqe, user_data); OFF(io_uring_sqe, buf_index); OFF(io_uring_sqe, buf_group);
            OFF(io_uring_sqe, personality); OFF(io_uring_sqe, splice_fd_in);
            OFF(io_uring_sqe, file_index); OFF(io_uring_sqe, addr_len); OFF(io_uring_sqe, addr3);
            OFF(io_uring_sqe, __pad2); OFF(io_uring_sqe, cmd);

            SZ(io_uring_cqe);
            OFF(io_uring_cqe, user_data); OFF(io_uring_cqe, res); OFF(io_uring_cqe, flags);

            SZ(io_uring_params);
            OFF(io_uring_params, sq_entries); OFF(io_uring_params, cq_entries);
            OFF(io_uring_params, flags); OFF(io_uring_params, sq_thread_cpu);
            OFF(io_uring_params, sq_thread_idle); OFF(io_uring_params, features);
            OFF(io_uring_params, wq_fd); OFF(io_uring_params, resv); OFF(io_uring_params, sq_off);
            OFF(io_uring_params, cq_off);

            /* The last u64 is resv2 in older headers and user_addr in newer ones: sizeof covers it. */
            SZ(io_sqring_offsets);
            OFF(io_sqring_offsets, head); OFF(io_sqring_offsets, tail); OFF(io_sqring_offsets, ring_mask);
            OFF(io_sqring_offsets, ring_entries); OFF(io_sqring_offsets, flags);
            OFF(io_sqring_offsets, dropped); OFF(io_sqring_offsets, array); OFF(io_sqring_offsets, resv1);

            SZ(io_cqring_offsets);
            OFF(io_cqring_offsets, head); OFF(io_cqring_offsets, tail); OFF(io_cqring_offsets, ring_mask);
            OFF(io_cqring_offsets, ring_entries); OFF(io_cqring_offsets, overflow);
            OFF(io_cqring_offsets, cqes); OFF(io_cqring_offsets, flags); OFF(io_cqring_offsets, resv1);

            SZ(io_uring_rsrc_register);
            OFF(io_uring_rsrc_register, nr); OFF(io_uring_rsrc_register, flags);
            OFF(io_uring_rsrc_register, resv2); OFF(io_uring_rsrc_register, data);
            OFF(io_uring_rsrc_register, tags);

            SZ(io_uring_buf_reg);
            OFF(io_uring_buf_reg, ring_addr); OFF(io_uring_buf_reg, ring_entries);
            OFF(io_uring_buf_reg, bgid);
        #ifdef IORING_CQE_F_BUF_MORE
            /* Named pad before 6.7 (IOU_PBUF_RING_MMAP); the same two bytes. */
            OFF(io_uring_buf_reg, flags);
        #endif
            SZ(io_uring_buf);
            OFF(io_uring_buf, addr); OFF(io_uring_buf, len); OFF(io_uring_buf, bid); OFF(io_uring_buf, resv);

            SZ(__kernel_timespec);
            OFF(__kernel_timespec, tv_sec); OFF(__kernel_timespec, tv_nsec);

            SZ(stat);
            OFF(stat, st_dev); OFF(stat, st_ino); OFF(stat, st_nlink); OFF(stat, st_mode);
            OFF(stat, st_uid); OFF(stat, st_gid); OFF(stat, st_rdev); OFF(stat, st_size);
            OFF(stat, st_blksize); OFF(stat, st_blocks);
            OFF(stat, st_atim.tv_sec); OFF(stat, st_atim.tv_nsec);
            OFF(stat, st_mtim.tv_sec); OFF(stat, st_mtim.tv_nsec);
            OFF(stat, st_ctim.tv_sec); OFF(stat, st_ctim.tv_nsec);
            SZ(statx);
            OFF(statx, stx_mask); OFF(statx, stx_mode); OFF(statx, stx_size); OFF(statx, stx_blocks);
            OFF(statx, stx_dio_mem_align); OFF(statx, stx_dio_offset_align);
            C(STATX_TYPE); C(STATX_SIZE); C(STATX_BLOCKS); C(STATX_DIOALIGN); C(AT_EMPTY_PATH);
            C(F_GETFL); C(F_SETFL);

            C(IORING_OP_NOP); C(IORING_OP_FSYNC); C(IORING_OP_READ_FIXED); C(IORING_OP_WRITE_FIXED);
            C(IORING_REGISTER_BUFFERS2); C(IORING_RSRC_REGISTER_SPARSE); C(IORING_OP_POLL_ADD); C(IORING_OP_TIMEOUT);
            C(IORING_OP_ASYNC_CANCEL); C(IORING_OP_FALLOCATE); C(IORING_OP_READ); C(IORING_OP_WRITE);
            C(IORING_OP_MSG_RING); C(IORING_OP_URING_CMD);
            C(IOSQE_FIXED_FILE); C(IOSQE_IO_DRAIN); C(IOSQE_IO_LINK); C(IOSQE_IO_HARDLINK);
            C(IOSQE_ASYNC); C(IOSQE_CQE_SKIP_SUCCESS);
            C(IOSQE_BUFFER_SELECT); C(IORING_REGISTER_PBUF_RING); C(IORING_UNREGISTER_PBUF_RING);
            C(IORING_CQE_F_BUFFER); C(IORING_CQE_F_MORE); C(IORING_URING_CMD_FIXED);
        #ifdef IORING_CQE_F_BUF_MORE
            /* 6.12+: incrementally consumed provided buffers (IOU_PBUF_RING_INC is an enum, so
               it comes with the macro that arrived with it). */
            C(IORING_CQE_F_BUF_MORE); C(IOU_PBUF_RING_INC);
        #endif
        #ifdef IORING_URING_CMD_MULTISHOT
            C(IORING_URING_CMD_MULTISHOT);
        #endif
            C(IORING_SETUP_IOPOLL); C(IORING_SETUP_SQPOLL); C(IORING_SETUP_CQSIZE); C(IORING_SETUP_CLAMP);
            C(IORING_SETUP_SUBMIT_ALL); C(IORING_SETUP_COOP_TASKRUN); C(IORING_SETUP_TASKRUN_FLAG);
            C(IORING_SETUP_SQE128); C(IORING_SETUP_CQE32); C(IORING_SETUP_SINGLE_ISSUER);
            C(IORING_SETUP_DEFER_TASKRUN);
        #ifdef IORING_SETUP_NO_SQARRAY
            C(IORING_SETUP_NO_SQARRAY);
        #endif
            C(IORING_FEAT_SINGLE_MMAP); C(IORING_FEAT_NODROP); C(IORING_FEAT_SUBMIT_STABLE);
            C(IORING_FEAT_RW_CUR_POS); C(IORING_FEAT_FAST_POLL); C(IORING_FEAT_EXT_ARG);
            C(IORING_FEAT_NATIVE_WORKERS);
            C(IORING_OFF_SQ_RING); C(IORING_OFF_CQ_RING); C(IORING_OFF_SQES);
            C(IORING_ENTER_GETEVENTS);
            C(IORING_SQ_NEED_WAKEUP); C(IORING_SQ_CQ_OVERFLOW); C(IORING_SQ_TASKRUN);
            C(IORING_FSYNC_DATASYNC); C(IORING_MSG_DATA);
            C(RWF_HIPRI); C(RWF_DSYNC); C(RWF_SYNC); C(RWF_NOWAIT);
            C(FALLOC_FL_KEEP_SIZE); C(FALLOC_FL_PUNCH_HOLE); C(FALLOC_FL_ZERO_RANGE);
            C(POLLIN); C(POLLOUT); C(POLLERR); C(POLLHUP);
            C(O_RDONLY); C(O_WRONLY); C(O_RDWR); C(O_CREAT); C(O_EXCL); C(O_TRUNC); C(O_NONBLOCK);
            C(O_DSYNC); C(O_DIRECT); C(O_CLOEXEC);
            C(LOCK_SH); C(LOCK_EX); C(LOCK_NB); C(LOCK_UN);
            C(EFD_CLOEXEC); C(EFD_NONBLOCK);
            C(PROT_READ); C(PROT_WRITE); C(MAP_SHARED); C(MAP_PRIVATE); C(MAP_ANONYMOUS); C(MAP_POPULATE);
            C(BLKGETSIZE64);
            C(S_IFMT); C(S_IFREG); C(S_IFBLK); C(S_IFDIR); C(S_IFCHR);
            C(SYS_fstat); C(SYS_io_uring_setup); C(SYS_io_uring_enter); C(SYS_io_uring_register);
            C(EPERM); C(ENOENT); C(EINTR); C(EIO); C(ENXIO); C(EBADF); C(EAGAIN); C(EWOULDBLOCK);
            C(ENOMEM); C(EACCES); C(EFAULT); C(EBUSY); C(EEXIST); C(EXDEV); C(ENODEV); C(EISDIR); C(EINVAL);
            C(ENOTTY); C(EFBIG); C(ENOSPC); C(ESPIPE); C(EROFS); C(ENOSYS); C(ETIME); C(EOVERFLOW);
            C(EOPNOTSUPP); C(ENOTSUP); C(ETIMEDOUT); C(EALREADY); C(EDQUOT); C(ECANCELED); C(ENOBUFS);
            return 0;
        }
        """;

    /// <summary>The header set of the host's own linux-libc-dev, for <see cref="Get"/>.</summary>
    public const string System = "system";

    private static readonly ConcurrentDictionary<string, Lazy<IReadOnlyDictionary<string, long>>> Values = new(StringComparer.Ordinal);

    /// <summary>Every "key value" line the probe printed, compiled against <paramref name="headers"/>.</summary>
    /// <param name="headers"><see cref="System"/>, or a kernel of <see cref="UapiHeaders.Kernels"/>.</param>
    public static IReadOnlyDictionary<string, long> Get(string headers = System) =>
        Values.GetOrAdd(headers, h => new Lazy<IReadOnlyDictionary<string, long>>(() => Run(h))).Value;

    private static Dictionary<string, long> Run(string headers)
    {
        if (!File.Exists("/usr/include/linux/io_uring.h"))
        {
            throw new InvalidOperationException(
                "/usr/include/linux/io_uring.h is missing: install linux-libc-dev (CI installs it) to check the struct layouts.");
        }

        string[] cflags = headers == System ? [] : UapiHeaders.CFlags(headers);
        string output = CProbe.CompileAndRun(Program, cflags, headers == System ? "the system headers" : $"the {headers} kernel headers");
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ');
            values[parts[0]] = long.Parse(parts[1], CultureInfo.InvariantCulture);
        }

        return values;
    }
}
