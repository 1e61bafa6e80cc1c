namespace LoopOrder.Ublk.Protocol;

/// <summary>UBLK_F_* device flags (include/uapi/linux/ublk_cmd.h): requested in ADD_DEV, offered by GET_FEATURES.</summary>
[Flags]
public enum UblkFeatures : ulong
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>UBLK_F_SUPPORT_ZERO_COPY (the kernel clears it).</summary>
    SupportZeroCopy = 1UL << 0,

    /// <summary>UBLK_F_URING_CMD_COMP_IN_TASK: always set by the kernel; nothing to do.</summary>
    UringCmdCompInTask = 1UL << 1,

    /// <summary>UBLK_F_NEED_GET_DATA: writes need a second command before the data is copied.</summary>
    NeedGetData = 1UL << 2,

    /// <summary>UBLK_F_USER_RECOVERY: the device survives its server; a new one can take over.</summary>
    UserRecovery = 1UL << 3,

    /// <summary>UBLK_F_USER_RECOVERY_REISSUE: requests in flight when the server died are sent again.</summary>
    UserRecoveryReissue = 1UL << 4,

    /// <summary>UBLK_F_UNPRIVILEGED_DEV.</summary>
    UnprivilegedDev = 1UL << 5,

    /// <summary>UBLK_F_CMD_IOCTL_ENCODE: commands use the ioctl-encoded codes (always set by the kernel).</summary>
    CmdIoctlEncode = 1UL << 6,

    /// <summary>UBLK_F_USER_COPY: data moves by pread/pwrite on /dev/ublkcN instead of fetched buffers.</summary>
    UserCopy = 1UL << 7,

    /// <summary>UBLK_F_ZONED.</summary>
    Zoned = 1UL << 8,

    /// <summary>
    /// UBLK_F_USER_RECOVERY_FAIL_IO (6.13): with <see cref="UserRecovery"/>, I/O while no server
    /// serves the device fails at once (device state FAIL_IO; new requests get BLK_STS_TARGET, EREMOTEIO in user space) instead of waiting for the
    /// next server. The kernel refuses it together with <see cref="UserRecoveryReissue"/>.
    /// </summary>
    UserRecoveryFailIo = 1UL << 9,

    /// <summary>UBLK_F_UPDATE_SIZE (after 6.12): UPDATE_SIZE sets a started device's capacity (data[0] = sectors).</summary>
    UpdateSize = 1UL << 10,

    /// <summary>UBLK_F_AUTO_BUF_REG (after 6.12): the request's pages are registered as a fixed buffer of the fetching ring (zero copy).</summary>
    AutoBufReg = 1UL << 11,

    /// <summary>UBLK_F_QUIESCE (after 6.12): QUIESCE_DEV; only with <see cref="UserRecovery"/>.</summary>
    Quiesce = 1UL << 12,

    /// <summary>UBLK_F_PER_IO_DAEMON (6.16): any thread may commit any tag (the kernel sets it by itself).</summary>
    PerIoDaemon = 1UL << 13,

    /// <summary>UBLK_F_BUF_REG_OFF_DAEMON (6.17): zero-copy buffers may be registered from any thread (set by the kernel).</summary>
    BufRegOffDaemon = 1UL << 14,

    /// <summary>UBLK_F_BATCH_IO (after 6.12): PREP/COMMIT/FETCH_IO_CMDS instead of one command per tag.</summary>
    BatchIo = 1UL << 15,

    /// <summary>UBLK_F_INTEGRITY (after 6.12): requests carry integrity metadata (needs USER_COPY).</summary>
    Integrity = 1UL << 16,

    /// <summary>UBLK_F_SAFE_STOP_DEV (7.0): TRY_STOP_DEV stops the device only when nobody has it open (set by the kernel).</summary>
    SafeStopDev = 1UL << 17,

    /// <summary>UBLK_F_NO_AUTO_PART_SCAN (after 6.12): START_DEV does not scan the disk for a partition table.</summary>
    NoAutoPartScan = 1UL << 18,

    /// <summary>UBLK_F_SHMEM_ZC (7.1): zero copy through shared memory registered with REG_BUF.</summary>
    ShmemZc = 1UL << 19,

    /// <summary>UBLK_F_IO_DESC_SIZE (after 6.12): the descriptor size is given in ublksrv_ctrl_dev_info.io_desc_size.</summary>
    IoDescSize = 1UL << 20,
}
