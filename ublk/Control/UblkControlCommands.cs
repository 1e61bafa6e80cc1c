using LoopOrder.Ublk.Protocol;
using LoopOrder.Ublk.Structs;

namespace LoopOrder.Ublk.Control;

/// <summary>
/// The ublksrv_ctrl_cmd header of each control command, as <see cref="UblkControl"/> sends it;
/// separate so tests can check every command's bytes without a kernel.
/// </summary>
internal static class UblkControlCommands
{
    /// <summary>GET_FEATURES: 8 bytes of UBLK_F_* written to <paramref name="features"/>; names no device.</summary>
    public static ublksrv_ctrl_cmd GetFeatures(ulong features) =>
        Header(UblkControl.AnyDeviceId, features, UblkLimits.FeaturesLength);

    /// <summary>ADD_DEV: the header's dev_id must equal the info's (the kernel checks).</summary>
    public static ublksrv_ctrl_cmd AddDevice(uint deviceId, ulong info) =>
        Header(deviceId, info, ublksrv_ctrl_dev_info.Size);

    /// <summary>SET_PARAMS from a whole ublk_params.</summary>
    public static ublksrv_ctrl_cmd SetParams(uint deviceId, ulong parameters) =>
        Header(deviceId, parameters, ublk_params.Size);

    /// <summary>GET_PARAMS into a whole ublk_params (whose len must be set).</summary>
    public static ublksrv_ctrl_cmd GetParams(uint deviceId, ulong parameters) =>
        Header(deviceId, parameters, ublk_params.Size);

    /// <summary>GET_DEV_INFO into a ublksrv_ctrl_dev_info.</summary>
    public static ublksrv_ctrl_cmd GetDeviceInfo(uint deviceId, ulong info) =>
        Header(deviceId, info, ublksrv_ctrl_dev_info.Size);

    /// <summary>GET_QUEUE_AFFINITY: the queue goes in data[0], not queue_id; the mask length in len.</summary>
    public static ublksrv_ctrl_cmd GetQueueAffinity(uint deviceId, int queueId, ulong mask, ushort maskBytes)
    {
        ublksrv_ctrl_cmd cmd = Header(deviceId, mask, maskBytes);
        cmd.data = (ulong)queueId;
        return cmd;
    }

    /// <summary>START_DEV: the server pid in data[0] (the kernel refuses 0 or less).</summary>
    public static ublksrv_ctrl_cmd StartDevice(uint deviceId, int serverPid) => WithData(deviceId, (ulong)serverPid);

    /// <summary>STOP_DEV.</summary>
    public static ublksrv_ctrl_cmd StopDevice(uint deviceId) => Header(deviceId, 0, 0);

    /// <summary>DEL_DEV.</summary>
    public static ublksrv_ctrl_cmd DeleteDevice(uint deviceId) => Header(deviceId, 0, 0);

    /// <summary>DEL_DEV_ASYNC.</summary>
    public static ublksrv_ctrl_cmd DeleteDeviceAsync(uint deviceId) => Header(deviceId, 0, 0);

    /// <summary>START_USER_RECOVERY.</summary>
    public static ublksrv_ctrl_cmd StartUserRecovery(uint deviceId) => Header(deviceId, 0, 0);

    /// <summary>END_USER_RECOVERY: the new server's pid in data[0].</summary>
    public static ublksrv_ctrl_cmd EndUserRecovery(uint deviceId, int serverPid) => WithData(deviceId, (ulong)serverPid);

    /// <summary>UPDATE_SIZE: the new capacity in 512-byte sectors in data[0].</summary>
    public static ublksrv_ctrl_cmd UpdateSize(uint deviceId, ulong sectors) => WithData(deviceId, sectors);

    /// <summary>QUIESCE_DEV: how long to wait for an idle tag on every queue, in milliseconds, in data[0].</summary>
    public static ublksrv_ctrl_cmd QuiesceDevice(uint deviceId, uint timeoutMs) => WithData(deviceId, timeoutMs);

    /// <summary>TRY_STOP_DEV.</summary>
    public static ublksrv_ctrl_cmd TryStopDevice(uint deviceId) => Header(deviceId, 0, 0);

    private static ublksrv_ctrl_cmd WithData(uint deviceId, ulong data)
    {
        ublksrv_ctrl_cmd cmd = Header(deviceId, 0, 0);
        cmd.data = data;
        return cmd;
    }

    // queue_id is (u16)-1 for every device-wide command: ADD_DEV refuses anything else, and
    // the others ignore it.
    private static ublksrv_ctrl_cmd Header(uint deviceId, ulong buffer, ushort length) => new()
    {
        dev_id = deviceId,
        queue_id = ublksrv_ctrl_cmd.NoQueue,
        len = length,
        addr = buffer,
    };
}
