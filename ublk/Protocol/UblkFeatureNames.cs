using System.Globalization;
using System.Numerics;

namespace LoopOrder.Ublk.Protocol;

/// <summary>The UBLK_F_* flags by their header names, for messages and <c>loop-order features</c>.</summary>
public static class UblkFeatureNames
{
    /// <summary>Every flag this build knows, lowest bit first.</summary>
    public static IReadOnlyList<UblkFeatures> Known { get; } =
        [.. Enum.GetValues<UblkFeatures>().Where(f => f != UblkFeatures.None).Order()];

    /// <summary>"UBLK_F_UPDATE_SIZE" for a known single flag, "bit N" for one this build does not know.</summary>
    /// <param name="feature">One flag.</param>
    public static string Name(UblkFeatures feature) => feature switch
    {
        UblkFeatures.SupportZeroCopy => "UBLK_F_SUPPORT_ZERO_COPY",
        UblkFeatures.UringCmdCompInTask => "UBLK_F_URING_CMD_COMP_IN_TASK",
        UblkFeatures.NeedGetData => "UBLK_F_NEED_GET_DATA",
        UblkFeatures.UserRecovery => "UBLK_F_USER_RECOVERY",
        UblkFeatures.UserRecoveryReissue => "UBLK_F_USER_RECOVERY_REISSUE",
        UblkFeatures.UnprivilegedDev => "UBLK_F_UNPRIVILEGED_DEV",
        UblkFeatures.CmdIoctlEncode => "UBLK_F_CMD_IOCTL_ENCODE",
        UblkFeatures.UserCopy => "UBLK_F_USER_COPY",
        UblkFeatures.Zoned => "UBLK_F_ZONED",
        UblkFeatures.UserRecoveryFailIo => "UBLK_F_USER_RECOVERY_FAIL_IO",
        UblkFeatures.UpdateSize => "UBLK_F_UPDATE_SIZE",
        UblkFeatures.AutoBufReg => "UBLK_F_AUTO_BUF_REG",
        UblkFeatures.Quiesce => "UBLK_F_QUIESCE",
        UblkFeatures.PerIoDaemon => "UBLK_F_PER_IO_DAEMON",
        UblkFeatures.BufRegOffDaemon => "UBLK_F_BUF_REG_OFF_DAEMON",
        UblkFeatures.BatchIo => "UBLK_F_BATCH_IO",
        UblkFeatures.Integrity => "UBLK_F_INTEGRITY",
        UblkFeatures.SafeStopDev => "UBLK_F_SAFE_STOP_DEV",
        UblkFeatures.NoAutoPartScan => "UBLK_F_NO_AUTO_PART_SCAN",
        UblkFeatures.ShmemZc => "UBLK_F_SHMEM_ZC",
        UblkFeatures.IoDescSize => "UBLK_F_IO_DESC_SIZE",
        _ => BitOperations.IsPow2((ulong)feature)
            ? string.Create(CultureInfo.InvariantCulture, $"bit {BitOperations.Log2((ulong)feature)}")
            : feature.ToString(),
    };

    /// <summary>"UPDATE_SIZE": the name without UBLK_F_.</summary>
    /// <param name="feature">One flag.</param>
    public static string ShortName(UblkFeatures feature)
    {
        string name = Name(feature);
        return name.StartsWith("UBLK_F_", StringComparison.Ordinal) ? name[7..] : name;
    }

    /// <summary>Every set bit of <paramref name="flags"/> by its short name, lowest first ("USER_RECOVERY|CMD_IOCTL_ENCODE").</summary>
    /// <param name="flags">Any flags, known or not.</param>
    public static string Format(UblkFeatures flags)
    {
        if (flags == UblkFeatures.None)
        {
            return "none";
        }

        var names = new List<string>();
        for (ulong rest = (ulong)flags; rest != 0; rest &= rest - 1)
        {
            names.Add(ShortName((UblkFeatures)(1UL << BitOperations.TrailingZeroCount(rest))));
        }

        return string.Join('|', names);
    }

    /// <summary>The running kernel's release (uname -r), or "unknown".</summary>
    public static string KernelRelease()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }
}
