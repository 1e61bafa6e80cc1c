using System.Collections.Concurrent;
using System.Globalization;
using LoopOrder.Tests.Shared;

namespace LoopOrder.Ublk.Tests.Layout;

/// <summary>
/// Compiles a C program against a VM kernel's own UAPI header (linux/ublk_cmd.h from that
/// kernel's linux-libc-dev, 6.12 or 7.3: the host's /usr/include is older) and returns what it
/// prints: for every field of every ublk struct its offset and size, every struct's size, and the
/// protocol constants; the macros of <see cref="ConstantTests.WhereDefined"/> only where the
/// header defines them. This is the ground truth the C# declarations are checked against.
/// </summary>
internal static class KernelHeaderProbe
{
    private const string Program = """
        #include <stddef.h>
        #include <stdio.h>
        #include <errno.h>
        #include <linux/ioctl.h>
        #include <linux/ublk_cmd.h>

        #define SZ(t) printf("size.%s %zu\n", #t, sizeof(struct t))
        #define FA(t, f, as) printf("field.%s.%s %zu %zu\n", #t, #as, offsetof(struct t, f), sizeof(((struct t *)0)->f))
        #define F(t, f) FA(t, f, f)
        #define C(name) printf("const.%s %lld\n", #name, (long long)(name))

        int main(void)
        {
            SZ(ublksrv_ctrl_cmd);
            F(ublksrv_ctrl_cmd, dev_id); F(ublksrv_ctrl_cmd, queue_id); F(ublksrv_ctrl_cmd, len);
            F(ublksrv_ctrl_cmd, addr); F(ublksrv_ctrl_cmd, data); F(ublksrv_ctrl_cmd, dev_path_len);
            F(ublksrv_ctrl_cmd, pad); F(ublksrv_ctrl_cmd, reserved);

            SZ(ublksrv_ctrl_dev_info);
            F(ublksrv_ctrl_dev_info, nr_hw_queues); F(ublksrv_ctrl_dev_info, queue_depth);
            F(ublksrv_ctrl_dev_info, state);
        #ifdef UBLK_F_IO_DESC_SIZE
            /* 7.x names the pad io_desc_size; it means something only with UBLK_F_IO_DESC_SIZE,
               which LoopOrder does not ask for, so the C# keeps it as pad0 (zero). */
            FA(ublksrv_ctrl_dev_info, io_desc_size, pad0);
        #else
            F(ublksrv_ctrl_dev_info, pad0);
        #endif
            F(ublksrv_ctrl_dev_info, max_io_buf_bytes); F(ublksrv_ctrl_dev_info, dev_id);
            F(ublksrv_ctrl_dev_info, ublksrv_pid); F(ublksrv_ctrl_dev_info, pad1);
            F(ublksrv_ctrl_dev_info, flags); F(ublksrv_ctrl_dev_info, ublksrv_flags);
            F(ublksrv_ctrl_dev_info, owner_uid); F(ublksrv_ctrl_dev_info, owner_gid);
            F(ublksrv_ctrl_dev_info, reserved1); F(ublksrv_ctrl_dev_info, reserved2);

            SZ(ublksrv_io_desc);
            F(ublksrv_io_desc, op_flags); F(ublksrv_io_desc, nr_sectors);
            F(ublksrv_io_desc, start_sector); F(ublksrv_io_desc, addr);

            SZ(ublksrv_io_cmd);
            F(ublksrv_io_cmd, q_id); F(ublksrv_io_cmd, tag); F(ublksrv_io_cmd, result); F(ublksrv_io_cmd, addr);

            SZ(ublk_param_basic);
            F(ublk_param_basic, attrs); F(ublk_param_basic, logical_bs_shift);
            F(ublk_param_basic, physical_bs_shift); F(ublk_param_basic, io_opt_shift);
            F(ublk_param_basic, io_min_shift); F(ublk_param_basic, max_sectors);
            F(ublk_param_basic, chunk_sectors); F(ublk_param_basic, dev_sectors);
            F(ublk_param_basic, virt_boundary_mask);

            SZ(ublk_param_discard);
            F(ublk_param_discard, discard_alignment); F(ublk_param_discard, discard_granularity);
            F(ublk_param_discard, max_discard_sectors); F(ublk_param_discard, max_write_zeroes_sectors);
            F(ublk_param_discard, max_discard_segments); F(ublk_param_discard, reserved0);

            SZ(ublk_param_devt);
            F(ublk_param_devt, char_major); F(ublk_param_devt, char_minor);
            F(ublk_param_devt, disk_major); F(ublk_param_devt, disk_minor);

            SZ(ublk_param_zoned);
            F(ublk_param_zoned, max_open_zones); F(ublk_param_zoned, max_active_zones);
            F(ublk_param_zoned, max_zone_append_sectors); F(ublk_param_zoned, reserved);

            SZ(ublk_params);
            F(ublk_params, len); F(ublk_params, types); F(ublk_params, basic);
            F(ublk_params, discard); F(ublk_params, devt); F(ublk_params, zoned);

        #ifdef UBLK_F_BATCH_IO
            SZ(ublk_batch_io);
            F(ublk_batch_io, q_id); F(ublk_batch_io, flags); F(ublk_batch_io, nr_elem);
            F(ublk_batch_io, elem_bytes); F(ublk_batch_io, reserved); F(ublk_batch_io, reserved2);
            SZ(ublk_elem_header);
            F(ublk_elem_header, tag); F(ublk_elem_header, buf_index); F(ublk_elem_header, result);
        #endif

            C(UBLK_U_CMD_GET_QUEUE_AFFINITY); C(UBLK_U_CMD_GET_DEV_INFO); C(UBLK_U_CMD_ADD_DEV);
            C(UBLK_U_CMD_DEL_DEV); C(UBLK_U_CMD_START_DEV); C(UBLK_U_CMD_STOP_DEV);
            C(UBLK_U_CMD_SET_PARAMS); C(UBLK_U_CMD_GET_PARAMS); C(UBLK_U_CMD_START_USER_RECOVERY);
            C(UBLK_U_CMD_END_USER_RECOVERY); C(UBLK_U_CMD_GET_DEV_INFO2); C(UBLK_U_CMD_GET_FEATURES);
            C(UBLK_U_CMD_DEL_DEV_ASYNC);
            C(UBLK_U_IO_FETCH_REQ); C(UBLK_U_IO_COMMIT_AND_FETCH_REQ); C(UBLK_U_IO_NEED_GET_DATA);
            C(UBLK_FEATURES_LEN); C(UBLK_MAX_QUEUE_DEPTH); C(UBLK_MAX_NR_QUEUES);
            C(UBLK_IO_RES_OK); C(UBLK_IO_RES_NEED_GET_DATA); C(UBLK_IO_RES_ABORT);
            C(UBLKSRV_CMD_BUF_OFFSET);
            C(UBLK_F_SUPPORT_ZERO_COPY); C(UBLK_F_URING_CMD_COMP_IN_TASK); C(UBLK_F_NEED_GET_DATA);
            C(UBLK_F_USER_RECOVERY); C(UBLK_F_USER_RECOVERY_REISSUE); C(UBLK_F_UNPRIVILEGED_DEV);
            C(UBLK_F_CMD_IOCTL_ENCODE); C(UBLK_F_USER_COPY); C(UBLK_F_ZONED);
            C(UBLK_S_DEV_DEAD); C(UBLK_S_DEV_LIVE); C(UBLK_S_DEV_QUIESCED);
            C(UBLK_IO_OP_READ); C(UBLK_IO_OP_WRITE); C(UBLK_IO_OP_FLUSH); C(UBLK_IO_OP_DISCARD);
            C(UBLK_IO_OP_WRITE_SAME); C(UBLK_IO_OP_WRITE_ZEROES);
            C(UBLK_IO_F_FAILFAST_DEV); C(UBLK_IO_F_FAILFAST_TRANSPORT); C(UBLK_IO_F_FAILFAST_DRIVER);
            C(UBLK_IO_F_META); C(UBLK_IO_F_FUA); C(UBLK_IO_F_NOUNMAP); C(UBLK_IO_F_SWAP);
            C(UBLK_ATTR_READ_ONLY); C(UBLK_ATTR_ROTATIONAL); C(UBLK_ATTR_VOLATILE_CACHE); C(UBLK_ATTR_FUA);
            C(UBLK_PARAM_TYPE_BASIC); C(UBLK_PARAM_TYPE_DISCARD); C(UBLK_PARAM_TYPE_DEVT); C(UBLK_PARAM_TYPE_ZONED);
            C(ENODEV);
        /*WHERE_DEFINED*/
            return 0;
        }
        """;

    private static readonly ConcurrentDictionary<string, Lazy<Result>> Values = new(StringComparer.Ordinal);

    /// <summary>The kernel the plain properties below answer for: the oldest, 6.12.</summary>
    public static string Oldest => UapiHeaders.Kernels[0];

    /// <summary>Offset and size of a field, by "struct.field", in the 6.12 header.</summary>
    public static IReadOnlyDictionary<string, (long Offset, long Size)> Fields => For(Oldest).Fields;

    /// <summary>sizeof by struct name, in the 6.12 header.</summary>
    public static IReadOnlyDictionary<string, long> Sizes => For(Oldest).Sizes;

    /// <summary>Constants by macro name, in the 6.12 header.</summary>
    public static IReadOnlyDictionary<string, long> Constants => For(Oldest).Constants;

    /// <summary>What the probe printed against <paramref name="kernel"/>'s header.</summary>
    /// <param name="kernel">One of <see cref="UapiHeaders.Kernels"/>.</param>
    public static Result For(string kernel) => Values.GetOrAdd(kernel, k => new Lazy<Result>(() => Run(k))).Value;

    private static Result Run(string kernel)
    {
        string[] cflags = UapiHeaders.CFlags(kernel);
        string whereDefined = string.Concat(ConstantTests.WhereDefined.Select(c => $"#ifdef {c.Macro}\n    C({c.Macro});\n#endif\n"));
        string output = CProbe.CompileAndRun(Program.Replace("/*WHERE_DEFINED*/", whereDefined, StringComparison.Ordinal), cflags, $"the {kernel} uapi headers ({string.Join(' ', cflags)})");
        var result = new Result(string.Join(' ', cflags));
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ');
            string[] key = parts[0].Split('.', 2);
            switch (key[0])
            {
                case "size":
                    result.Sizes[key[1]] = long.Parse(parts[1], CultureInfo.InvariantCulture);
                    break;
                case "field":
                    result.Fields[key[1]] = (long.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture));
                    break;
                default:
                    result.Constants[key[1]] = long.Parse(parts[1], CultureInfo.InvariantCulture);
                    break;
            }
        }

        return result;
    }

    /// <summary>What the probe printed against one kernel's header.</summary>
    /// <param name="cflags">The gcc flags that put that header first.</param>
    internal sealed class Result(string cflags)
    {
        /// <summary>Gets the gcc flags the probe was compiled with.</summary>
        public string CFlags { get; } = cflags;

        /// <summary>Gets offset and size of a field, by "struct.field".</summary>
        public Dictionary<string, (long Offset, long Size)> Fields { get; } = new(StringComparer.Ordinal);

        /// <summary>Gets sizeof by struct name.</summary>
        public Dictionary<string, long> Sizes { get; } = new(StringComparer.Ordinal);

        /// <summary>Gets constants by macro name.</summary>
        public Dictionary<string, long> Constants { get; } = new(StringComparer.Ordinal);
    }
}
