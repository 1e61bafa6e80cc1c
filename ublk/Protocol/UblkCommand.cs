using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Protocol;

/// <summary>
/// The ublk command codes, ioctl-encoded as the kernel's UBLK_U_CMD_* and UBLK_U_IO_* macros
/// build them (<c>_IOR</c>/<c>_IOWR('u', nr, struct)</c>). The kernel always negotiates
/// UBLK_F_CMD_IOCTL_ENCODE and may be built without the legacy raw numbers, so only these are used.
/// </summary>
public static class UblkCommand
{
    // include/uapi/asm-generic/ioctl.h: nr in bits 0-7, type in 8-15, size in 16-29, direction in
    // 30-31 with _IOC_WRITE = 1 and _IOC_READ = 2.
    private const uint IocRead = 2u << 30;
    private const uint IocReadWrite = 3u << 30;
    private const uint Type = (uint)'u' << 8;
    private const uint CtrlSize = (uint)ublksrv_ctrl_cmd.Size << 16;
    private const uint IoSize = (uint)ublksrv_io_cmd.Size << 16;
    private const uint BatchSize = (uint)ublk_batch_io.Size << 16;

    /// <summary>UBLK_U_CMD_GET_QUEUE_AFFINITY: the CPUs that map to a queue (data[0] = queue).</summary>
    public const uint GetQueueAffinity = IocRead | CtrlSize | Type | 0x01;

    /// <summary>UBLK_U_CMD_GET_DEV_INFO.</summary>
    public const uint GetDevInfo = IocRead | CtrlSize | Type | 0x02;

    /// <summary>UBLK_U_CMD_ADD_DEV.</summary>
    public const uint AddDev = IocReadWrite | CtrlSize | Type | 0x04;

    /// <summary>UBLK_U_CMD_DEL_DEV: waits until the device number is free again.</summary>
    public const uint DelDev = IocReadWrite | CtrlSize | Type | 0x05;

    /// <summary>UBLK_U_CMD_START_DEV: blocks until every tag of every queue is fetched.</summary>
    public const uint StartDev = IocReadWrite | CtrlSize | Type | 0x06;

    /// <summary>UBLK_U_CMD_STOP_DEV.</summary>
    public const uint StopDev = IocReadWrite | CtrlSize | Type | 0x07;

    /// <summary>UBLK_U_CMD_SET_PARAMS: before START_DEV only.</summary>
    public const uint SetParams = IocReadWrite | CtrlSize | Type | 0x08;

    /// <summary>UBLK_U_CMD_GET_PARAMS.</summary>
    public const uint GetParams = IocRead | CtrlSize | Type | 0x09;

    /// <summary>UBLK_U_CMD_START_USER_RECOVERY.</summary>
    public const uint StartUserRecovery = IocReadWrite | CtrlSize | Type | 0x10;

    /// <summary>UBLK_U_CMD_END_USER_RECOVERY (data[0] = the new server's pid).</summary>
    public const uint EndUserRecovery = IocReadWrite | CtrlSize | Type | 0x11;

    /// <summary>UBLK_U_CMD_GET_DEV_INFO2.</summary>
    public const uint GetDevInfo2 = IocRead | CtrlSize | Type | 0x12;

    /// <summary>UBLK_U_CMD_GET_FEATURES: the UBLK_F_* this kernel supports (len 8).</summary>
    public const uint GetFeatures = IocRead | CtrlSize | Type | 0x13;

    /// <summary>UBLK_U_CMD_DEL_DEV_ASYNC: like DEL_DEV without waiting for the number to be freed.</summary>
    public const uint DelDevAsync = IocRead | CtrlSize | Type | 0x14;

    /// <summary>
    /// UBLK_U_CMD_UPDATE_SIZE (with UBLK_F_UPDATE_SIZE, after 6.12): a started device's new
    /// capacity in 512-byte sectors in data[0]; the kernel sets it and notifies (KOBJ_CHANGE).
    /// </summary>
    public const uint UpdateSize = IocReadWrite | CtrlSize | Type | 0x15;

    /// <summary>
    /// UBLK_U_CMD_QUIESCE_DEV (with UBLK_F_QUIESCE, after 6.12): stop handing requests to the
    /// server and abort its fetches, leaving the device recoverable; data[0] = how long to wait, in
    /// milliseconds, for every queue to have an idle tag (EBUSY when it runs out).
    /// </summary>
    public const uint QuiesceDev = IocReadWrite | CtrlSize | Type | 0x16;

    /// <summary>UBLK_U_CMD_TRY_STOP_DEV (with UBLK_F_SAFE_STOP_DEV, 7.0): STOP_DEV unless /dev/ublkbN has openers (EBUSY then).</summary>
    public const uint TryStopDev = IocReadWrite | CtrlSize | Type | 0x17;

    /// <summary>UBLK_U_IO_FETCH_REQ: arm a tag for its first request.</summary>
    public const uint FetchReq = IocReadWrite | IoSize | Type | 0x20;

    /// <summary>UBLK_U_IO_COMMIT_AND_FETCH_REQ: complete a tag's request and arm it again.</summary>
    public const uint CommitAndFetchReq = IocReadWrite | IoSize | Type | 0x21;

    /// <summary>UBLK_U_IO_NEED_GET_DATA (only with UBLK_F_NEED_GET_DATA, which LoopOrder does not use).</summary>
    public const uint NeedGetData = IocReadWrite | IoSize | Type | 0x22;

    /// <summary>UBLK_U_IO_PREP_IO_CMDS (UBLK_F_BATCH_IO): arm many tags of a queue at once (replaces FETCH_REQ).</summary>
    public const uint PrepIoCmds = IocReadWrite | BatchSize | Type | 0x25;

    /// <summary>UBLK_U_IO_COMMIT_IO_CMDS (UBLK_F_BATCH_IO): complete many tags' requests at once and arm them again; the CQE says how many bytes of elements it took.</summary>
    public const uint CommitIoCmds = IocReadWrite | BatchSize | Type | 0x26;

    /// <summary>UBLK_U_IO_FETCH_IO_CMDS (UBLK_F_BATCH_IO): a multishot command whose CQEs carry the tags of newly arrived requests, written into a provided buffer.</summary>
    public const uint FetchIoCmds = IocReadWrite | BatchSize | Type | 0x27;

    /// <summary>The command's name for messages ("ADD_DEV"), or its hex code.</summary>
    /// <param name="code">A command code.</param>
    public static string Name(uint code) => code switch
    {
        GetQueueAffinity => "GET_QUEUE_AFFINITY",
        GetDevInfo => "GET_DEV_INFO",
        AddDev => "ADD_DEV",
        DelDev => "DEL_DEV",
        StartDev => "START_DEV",
        StopDev => "STOP_DEV",
        SetParams => "SET_PARAMS",
        GetParams => "GET_PARAMS",
        StartUserRecovery => "START_USER_RECOVERY",
        EndUserRecovery => "END_USER_RECOVERY",
        GetDevInfo2 => "GET_DEV_INFO2",
        GetFeatures => "GET_FEATURES",
        DelDevAsync => "DEL_DEV_ASYNC",
        UpdateSize => "UPDATE_SIZE",
        QuiesceDev => "QUIESCE_DEV",
        TryStopDev => "TRY_STOP_DEV",
        FetchReq => "FETCH_REQ",
        CommitAndFetchReq => "COMMIT_AND_FETCH_REQ",
        NeedGetData => "NEED_GET_DATA",
        PrepIoCmds => "PREP_IO_CMDS",
        CommitIoCmds => "COMMIT_IO_CMDS",
        FetchIoCmds => "FETCH_IO_CMDS",
        _ => "0x" + code.ToString("X8", System.Globalization.CultureInfo.InvariantCulture),
    };
}
