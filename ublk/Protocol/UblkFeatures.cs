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

    /// <summary>UBLK_F_USER_RECOVERY_FAIL_IO (after 6.12).</summary>
    UserRecoveryFailIo = 1UL << 9,

    /// <summary>UBLK_F_UPDATE_SIZE (after 6.12).</summary>
    UpdateSize = 1UL << 10,

    /// <summary>UBLK_F_AUTO_BUF_REG (after 6.12).</summary>
    AutoBufReg = 1UL << 11,

    /// <summary>UBLK_F_QUIESCE (after 6.12).</summary>
    Quiesce = 1UL << 12,

    /// <summary>UBLK_F_PER_IO_DAEMON (after 6.12): any thread may commit any tag.</summary>
    PerIoDaemon = 1UL << 13,
}
